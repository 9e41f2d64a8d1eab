"""What a newcomer met (the audit of issue 21): ``-v`` after the subcommand, a hub home
created silently from the wrong folder, ``hub --version`` not telling two installs apart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub.cli import _verbose_first

REPO = Path(__file__).resolve().parents[2]


def _hub(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(extra)
    cmd = [sys.executable, "-c", "from hub.cli import main; main()", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_verbose_flags_are_the_groups_wherever_they_stand() -> None:
    assert _verbose_first(["stack", "status", "-v"]) == ["-v", "stack", "status"]
    assert _verbose_first(["-vv", "feed", "x"]) == ["-vv", "feed", "x"]
    assert _verbose_first(["feed", "x", "--verbose", "-e"]) == ["--verbose", "feed", "x", "-e"]
    # after --, a value that looks like the flag is a value
    assert _verbose_first(["publish", "--", "-v"]) == ["publish", "--", "-v"]
    assert _verbose_first(["publish", "-vx"]) == ["publish", "-vx"]


def test_v_after_the_subcommand_logs_the_home(tmp_path: Path) -> None:
    (tmp_path / ".hub").mkdir()
    res = _hub(tmp_path, "stack", "status", "-v")
    assert "No such option" not in res.stderr, res.stderr
    assert "INFO hub.core.settings: home" in res.stderr


def test_a_new_empty_home_is_announced_once_and_only_then(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = _hub(elsewhere, "actors", "list")
    assert res.returncode == 0
    notes = [line for line in res.stderr.splitlines() if "new, empty hub home" in line]
    assert len(notes) == 1 and str(elsewhere) in notes[0], res.stderr
    again = _hub(elsewhere, "actors", "list")  # the home exists now: no note
    assert "new, empty hub home" not in again.stderr
    # from a subfolder, the project's .hub is found upward: no note either
    sub = elsewhere / "docs"
    sub.mkdir()
    assert "new, empty hub home" not in _hub(sub, "actors", "list").stderr
    # HUB_HOME set: the user chose it
    chosen = _hub(tmp_path, "actors", "list", HUB_HOME=str(tmp_path / "chosen"))
    assert "new, empty hub home" not in chosen.stderr


def test_version_says_which_install_runs(tmp_path: Path) -> None:
    res = _hub(tmp_path, "--version")
    assert res.returncode == 0
    assert res.stdout.startswith("hub, version ")
    assert str(REPO) in res.stdout and sys.executable in res.stdout


def test_a_feed_line_fits_80_columns_whatever_the_record() -> None:
    """``hub feed``'s text line: one record per line, within 80 columns even at the longest
    (an 8-digit offset, the longest kind and reason, many wished communes), the first
    commune and how many more (the whole list made lines of up to 101 columns)."""
    from hub.cli.feed import _line

    communes = ["76540", "76351", "76108", "76498", "76681", "76217", "76157", "76322"]
    rec = {"_offset": 99_999_999, "kind": "RADIATION", "numUnique": "076" + "1" * 15,
           "operation": "MOD", "demandeVersion": 999, "reason": "delai_anormalement_long",
           "demande": {"demandeLogement": {"logementRecherche": {
               "listeLocalisationSouhaite": [{"commune": c} for c in communes]}}}}  # fmt: skip
    line = _line(rec)
    assert len(line) <= 80 and "\n" not in line, (len(line), line)
    assert line.endswith(" 76540+7") and "delai_anormalement_long" in line
    assert line.split()[:5] == ["99999999", "RADIATION", "076" + "1" * 15, "MOD", "v999"]
    bare = _line({**rec, "reason": None, "demande": None})
    assert bare.split() == ["99999999", "RADIATION", "076" + "1" * 15, "MOD", "v999"]


def test_ctrl_c_in_a_command_that_does_not_handle_it_exits_130() -> None:
    """Shells expect 128 + SIGINT; click alone says "Aborted!" and exits 1."""
    import click
    from click.testing import CliRunner

    from hub.cli import HubGroup

    @click.group(cls=HubGroup)
    def group() -> None: ...

    @group.command()
    def slow() -> None:
        raise KeyboardInterrupt

    res = CliRunner().invoke(group, ["slow"])
    assert res.exit_code == 130 and res.stderr == "interrupted\n", (res.exit_code, res.output)


def test_verbose_first_over_any_argument_list() -> None:
    """Any argv (flags, values that look like flags, ``--``, unicode): the verbosity flags
    before ``--`` move to the front, everything else keeps its order, nothing is lost."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    token = st.one_of(st.sampled_from(["-v", "-vv", "--verbose", "--", "-e", "-vx", "--v",
                                       "feed", "-", ""]), st.text(max_size=6))  # fmt: skip

    def is_flag(a: str) -> bool:  # the group's -v, -vv, ... and --verbose
        return a == "--verbose" or (len(a) > 1 and a[0] == "-" and set(a[1:]) == {"v"})

    @settings(max_examples=300, deadline=None)
    @given(st.lists(token, max_size=12))
    def check(args: list[str]) -> None:
        end = args.index("--") if "--" in args else len(args)
        before, after = args[:end], args[end:]
        assert _verbose_first(args) == (
            [a for a in before if is_flag(a)] + [a for a in before if not is_flag(a)] + after
        )

    check()


def test_services_keep_the_kafka_clients_connection_errors_in_their_logs() -> None:
    """The filter that spares a person aiokafka's "Unable connect" lines is lifted by a
    service as it starts (its log is what an operator reads later)."""
    import asyncio
    import logging

    from click.testing import CliRunner

    from connectors.shape import run_until_signal
    from hub.cli import main
    from hub.core.kafka.client import ConnectionNoise

    def installed() -> bool:
        return any(isinstance(f, ConnectionNoise) for f in logging.getLogger("aiokafka").filters)

    CliRunner().invoke(main, ["status", "--help"])
    assert installed()  # a command for a person

    class Once:
        async def run(self, stop: asyncio.Event) -> None:
            assert not installed()

    run_until_signal(Once())  # type: ignore[arg-type]
    assert not installed()
    CliRunner().invoke(main, ["-v", "status", "--help"])
    assert not installed()
