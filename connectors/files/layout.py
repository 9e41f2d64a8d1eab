"""Folder layout and file names of the file exchange (see docs/connectors-files.md).

::

    <root>/inbox/<source>/            legacy systems drop *.xml here
    <root>/inbox/<source>/done/       published files, each with <name>.report.json
    <root>/inbox/<source>/error/      rejected files, each with <name>.report.json
    <root>/inbox/<source>/.hub-work/  files the hub took and has not moved yet (its own)
    <root>/outbox/<actor_id>/         DIS files (unless the actor's delivery option "dir")
    <root>/.state/                    the hub's own journals and locks

Folders the hub creates are 0700 and files it writes 0600 (:mod:`connectors.files.fsutil`);
a processed inbox file is set to 0600 when moved to ``done/`` or ``error/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hub.core.errors import ConfigError
from hub.core.private import private_dir
from hub.core.settings import HubSettings
from hub.core.topics import ACTOR_ID_RE
from hub.domain.actors import Actor

DONE, ERROR = "done", "error"
#: the inbox's work folder (:mod:`connectors.files.claim`): a subfolder of the inbox, so a
#: claim is a rename within one filesystem; dot-named, so never taken for a dropped file
WORK = ".hub-work"
REPORT_SUFFIX = ".report.json"
DIS_PREFIX = "DIS_"


@dataclass(frozen=True, slots=True)
class InboxPaths:
    source: str
    folder: Path
    done: Path
    error: Path
    journal: Path
    lock: Path
    work: Path

    def create(self) -> None:
        """Create the folders: missing ones 0700; ``done/``, ``error/``, the work folder
        and the state folder, the hub's own, set to 0700 even if they exist. The inbox
        folder keeps the mode an operator gave it (another account may drop files there)."""
        private_dir(self.folder)
        for d in (self.done, self.error, self.work):
            private_dir(d, base=d)
        private_dir(self.journal.parent, base=self.journal.parent)


def root(settings: HubSettings) -> Path:
    return settings.files.root_dir(settings.home)


def state_dir(settings: HubSettings) -> Path:
    return root(settings) / ".state"


def inbox_paths(settings: HubSettings, source: str) -> InboxPaths:
    """The folders of inbox ``source``; :class:`ConfigError` for a name unsafe as a folder."""
    if not ACTOR_ID_RE.match(source):
        raise ConfigError(f"file source {source!r}: use lowercase letters, digits, '-' or '_'")
    folder = root(settings) / "inbox" / source
    state = state_dir(settings)
    return InboxPaths(
        source=source,
        folder=folder,
        done=folder / DONE,
        error=folder / ERROR,
        journal=state / f"inbox-{source}.journal",
        lock=state / f"inbox-{source}.lock",
        work=folder / WORK,
    )


def outbox_dir(settings: HubSettings, actor: Actor) -> Path:
    """Where ``actor``'s DIS files go: its ``dir`` delivery option (relative to the files
    root if not absolute), else ``<root>/outbox/<actor_id>``."""
    option = actor.delivery.options.get("dir", "").strip()
    if not option:
        return root(settings) / "outbox" / actor.id
    path = Path(option).expanduser()
    return path if path.is_absolute() else root(settings) / path


def is_inbox_candidate(name: str) -> bool:
    """Only visible ``*.xml`` names are taken: ``*.tmp``, ``*.part`` and dot-files are a
    writer's work in progress (write under such a name, then rename to ``.xml``)."""
    return not name.startswith(".") and name.lower().endswith(".xml")


def report_name(name: str) -> str:
    return name + REPORT_SUFFIX


def dest_name(folder: Path, name: str, digest: str) -> str:
    """The name a processed inbox file takes in ``folder`` (done/ or error/).

    ``name`` itself, unless that name already holds another document there (legacy systems
    often reuse a daily name): then ``<stem>.<sha256[:12]><suffix>``. Deterministic in the
    content, so a replay after a crash picks the same name as the interrupted attempt."""
    report = folder / report_name(name)
    if not (folder / name).exists() and not report.exists():
        return name
    try:
        previous = json.loads(report.read_bytes()).get("sha256")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous == digest:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest[:12]}.{suffix}" if dot else f"{name}.{digest[:12]}"


def dis_name(actor_id: str, partition: int, first: int, last: int) -> str:
    """Name of the DIS file holding feed offsets ``first..last`` of ``partition``: a replay
    of the same range rewrites the same name; zero padding keeps lexical = feed order."""
    return f"{DIS_PREFIX}{actor_id}_p{partition}_{first:012d}-{last:012d}.xml"
