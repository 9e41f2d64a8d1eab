"""scripts/bootstrap.sh with no virtual environment active: it creates the project's
.venv/ and installs the package there, on an interpreter that refuses installs into its
own environment (PEP 668, as Debian's python3) as on one that allows them (pyenv,
python.org: its environment is left alone, so a second clone never takes over the `hub`
of a first one); scripts/demo.sh runs the `hub` of that venv. A virtual environment's
interpreter given as PYTHON is used as it is.

The refusing interpreter is simulated on any machine: a wrapper running this Python with a
``sitecustomize`` that puts an ``EXTERNALLY-MANAGED`` marker in ``sysconfig``'s stdlib
path outside virtual environments, which is exactly what pip and bootstrap.sh look at.
The repository is copied (working tree, ignored files left out) into a temporary folder.
Marked ``bootstrap`` (run by default; ``-m "not bootstrap"`` leaves it out): a full
``pip install`` into a new venv, 56 s for both tests on an idle machine with a warm pip
cache, 2 min 15 s on a busy one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bootstrap
REPO = Path(__file__).resolve().parent.parent.parent

SITECUSTOMIZE = '''\
import os, sys, sysconfig

_get_path = sysconfig.get_path


def _get_path_pep668(name, *args, **kwargs):
    if name == "stdlib" and not args and not kwargs and sys.prefix == sys.base_prefix:
        return os.path.dirname(os.path.abspath(__file__))
    return _get_path(name, *args, **kwargs)


sysconfig.get_path = _get_path_pep668
'''


def _copy_repo(dest: Path) -> Path:
    """The working tree as a fresh clone would hold it (tracked and untracked files that
    .gitignore does not exclude), so uncommitted changes are what is tested."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _pep668_python(where: Path) -> Path:
    """A ``python3`` refusing installs outside a venv: this interpreter plus a marker."""
    where.mkdir()
    (where / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (where / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=simulated Debian python3 (test_bootstrap.py)\n"
    )
    base = Path(sys.executable).resolve()
    wrapper = where / "python3"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{where}" exec "{base}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def _env(**extra: str) -> dict[str, str]:
    """No active venv, no `hub` or python of this test run on PATH (only the system's)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "PYTHON", "PYENV", "VIRTUAL_ENV", "PIP_"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep)
        if p and ".pyenv" not in p and not (Path(p) / "hub").exists()
    )
    env.update(extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


def test_bootstrap_makes_a_venv_on_a_pep668_python(tmp_path: Path) -> None:
    python = _pep668_python(tmp_path / "pep668")
    refused = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "--no-index", "passerelle"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, (
        refused.stderr  # the simulation holds: this interpreter refuses installs as Debian's
    )
    repo = _copy_repo(tmp_path / "clone")
    env = _env(PYTHON=str(python))

    out = _run(["scripts/bootstrap.sh"], repo, env)
    assert "creating the project's .venv/" in out, out
    version = _run([str(repo / ".venv/bin/hub"), "--version"], repo, env)
    assert version.startswith("hub, version "), version
    # the editable install points at this copy, not at the repository under test
    origin = _run([str(repo / ".venv/bin/python"), "-P", "-c",
                   "import hub; print(hub.__file__)"], repo, env)
    assert Path(origin.strip()).resolve().is_relative_to(repo.resolve())

    # again: the venv is reused, nothing is installed, and the demo does not ask for
    # Prometheus (the monitoring tests' need, bootstrap.sh --tests) even where it is missing
    # (a PATH holding only the tools bootstrap.sh uses)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "sh", "env", "sha256sum", "cut", "mkdir", "rm", "touch", "dirname",
                 "id", "cat", "java", "mvn"):
        found = shutil.which(tool, path=env["PATH"])
        assert found, tool
        (tools / tool).symlink_to(found)
    out = _run(["scripts/bootstrap.sh"], repo, {**env, "PATH": str(tools)})
    assert "creating" not in out and "installing" not in out, out
    assert "prometheus" not in out, out
    bad = subprocess.run(["scripts/bootstrap.sh", "--test"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown argument --test" in bad.stderr
    # demo.sh runs the venv's hub (the only one on PATH)
    helped = _run(["scripts/demo.sh", "--help"], repo, env)
    assert "Usage: hub demo" in helped, helped


def test_bootstrap_makes_a_venv_on_an_interpreter_that_allows_installs(tmp_path: Path) -> None:
    """No venv active, an interpreter that accepts installs into its own environment (a
    pyenv build, as this machine's): .venv/ is made and that environment gets nothing.

    The interpreter is a throwaway venv's, disguised as a plain one (``sys.base_prefix``
    set to ``sys.prefix`` by a ``sitecustomize`` its wrapper puts on the path), so the
    former rule — install where the interpreter allows it — would write to the throwaway
    venv, never to this test run's interpreter."""
    base = tmp_path / "base"
    # no --system-site-packages: pip, told it is not in a venv, would otherwise remove the
    # packages it sees there, this test run's own included (it did, before this rule held)
    _run([sys.executable, "-m", "venv", "--without-pip", str(base)], tmp_path, _env())
    disguise = tmp_path / "disguise"
    disguise.mkdir()
    (disguise / "sitecustomize.py").write_text("import sys\nsys.base_prefix = sys.prefix\n")
    wrapper = tmp_path / "python3"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{disguise}" exec "{base}/bin/python" "$@"\n')
    wrapper.chmod(0o755)
    plain = _run([str(wrapper), "-c", "import sys; print(sys.prefix == sys.base_prefix)"],
                 tmp_path, _env())
    assert plain.strip() == "True"
    where = [str(wrapper), "-P", "-c",
             "import importlib.util as u; s = u.find_spec('hub'); print(s and s.origin)"]
    before = _run(where, tmp_path, _env())

    repo = _copy_repo(tmp_path / "clone")
    out = _run(["scripts/bootstrap.sh"], repo, _env(PYTHON=str(wrapper)))
    assert "creating the project's .venv/" in out, out
    origin = _run([str(repo / ".venv/bin/python"), "-P", "-c", "import hub; print(hub.__file__)"],
                  repo, _env())
    assert Path(origin.strip()).resolve().is_relative_to(repo.resolve())
    assert before.strip() == "None"
    assert _run(where, tmp_path, _env()) == before  # nothing installed into the interpreter


def test_bootstrap_installs_into_a_venv_given_as_python(tmp_path: Path) -> None:
    """A venv's interpreter given as PYTHON (not active) is a choice: the package goes
    there, no .venv/ is made."""
    target = tmp_path / "env"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(target)], tmp_path, _env())
    repo = _copy_repo(tmp_path / "clone")
    out = _run(["scripts/bootstrap.sh"], repo, _env(PYTHON=str(target / "bin/python")))
    assert "creating" not in out and not (repo / ".venv").exists(), out
    origin = _run([str(target / "bin/python"), "-P", "-c", "import hub; print(hub.__file__)"],
                  repo, _env())
    assert Path(origin.strip()).resolve().is_relative_to(repo.resolve())
