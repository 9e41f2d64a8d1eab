"""The hub's home as users expect it (hub/core/home.py): HUB_HOME, else the nearest ``.hub``
upward from the current directory (as git finds ``.git``), else ``./.hub``; ``hub stack
status`` prints which one and why, ``hub -v`` logs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.core.home import find_home


def _hub(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", *args],
        cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


def test_nearest_hub_upward_wins(tmp_path: Path) -> None:
    (tmp_path / ".hub").mkdir()
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_home(deep) == tmp_path / ".hub"
    (tmp_path / "a" / ".hub").mkdir()  # a nearer one hides the outer one
    assert find_home(deep) == tmp_path / "a" / ".hub"
    assert find_home(tmp_path) == tmp_path / ".hub"


def test_a_file_named_hub_is_not_a_home(tmp_path: Path) -> None:
    (tmp_path / ".hub").mkdir()
    inner = tmp_path / "x"
    inner.mkdir()
    (inner / ".hub").write_text("not a folder")
    assert find_home(inner) == tmp_path / ".hub"


def test_default_is_the_current_directory(tmp_path: Path) -> None:
    if any((p / ".hub").is_dir() for p in tmp_path.parents):
        pytest.skip("a .hub folder above the temporary directory")
    assert find_home(tmp_path) == tmp_path / ".hub"
    res = _hub(tmp_path, "stack", "status")
    assert res.stdout.splitlines()[0] == (
        f"home: {tmp_path / '.hub'} (default: no .hub in {tmp_path} or above; "
        "created on first use)"
    ), res.stdout


def test_stack_status_from_a_subdirectory_shows_the_project_home(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".hub").mkdir(parents=True)
    sub = project / "docs" / "notes"
    sub.mkdir(parents=True)
    res = _hub(sub, "stack", "status")
    assert res.returncode == 3, res.stderr  # nothing runs in this home
    lines = res.stdout.splitlines()
    assert lines[0] == f"home: {project / '.hub'} (nearest .hub above {sub})", res.stdout
    assert f"data {project / '.hub' / 'kafka' / 'data'}" in lines[1]


def test_hub_home_variable_wins_and_v_logs_the_home(tmp_path: Path) -> None:
    (tmp_path / ".hub").mkdir()
    chosen = tmp_path / "elsewhere"
    res = _hub(tmp_path, "-v", "stack", "status", HUB_HOME=str(chosen))
    assert res.returncode == 3, res.stderr
    assert res.stdout.splitlines()[0] == f"home: {chosen} (HUB_HOME)"
    assert f"INFO hub.core.settings: home {chosen} (HUB_HOME)" in res.stderr
    quiet = _hub(tmp_path, "stack", "status")
    here = f"home: {tmp_path / '.hub'} (the .hub of the current directory)"
    assert quiet.stdout.splitlines()[0] == here
    assert "hub.core.settings" not in quiet.stderr
