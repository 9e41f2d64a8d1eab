"""Where the hub's home is: the folder of its embedded state (SQLite registry, local
stack, worker data; ``HubSettings.home``).

Rule, in order (README, "Configuration"):

1. ``HUB_HOME`` when set (relative to the current directory);
2. else the nearest ``.hub`` folder from the current directory upward, as git finds
   ``.git``: from any subfolder of a project, commands see that project's hub;
3. else ``./.hub`` in the current directory (created on first use).

:func:`describe_home` says which of the three applied: ``hub stack status`` prints it,
and every command logs it at ``-v``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

#: the name of the home folder looked for upward (and created when none is found)
HOME_NAME = ".hub"


class _HasHome(Protocol):
    @property
    def home(self) -> Path: ...

    @property
    def model_fields_set(self) -> set[str]: ...


def find_home(start: Path | None = None) -> Path:
    """The absolute path of the nearest ``.hub`` folder in ``start`` (default: the
    current directory) or one of its parents; ``start/.hub`` when there is none.
    Folders that cannot be examined (permissions) are passed over."""
    here = (Path.cwd() if start is None else start).absolute()
    for folder in (here, *here.parents):
        candidate = folder / HOME_NAME
        try:
            if candidate.is_dir():
                return candidate
        except OSError:
            continue
    return here / HOME_NAME


def describe_home(settings: _HasHome, cwd: Path | None = None) -> str:
    """One line: the home's absolute path and why it is this one (``HUB_HOME``, found
    upward from the current directory, or the default in it)."""
    home = settings.home.absolute()
    if "home" in settings.model_fields_set:
        return f"{home} (HUB_HOME)"
    here = (Path.cwd() if cwd is None else cwd).absolute()
    if not home.is_dir():
        return f"{home} (default: no {HOME_NAME} in {here} or above; created on first use)"
    if home.parent == here:
        return f"{home} (the {HOME_NAME} of the current directory)"
    return f"{home} (nearest {HOME_NAME} above {here})"
