"""Output for a person that survives 80 columns and pipes (issue 21 point 3): ids never
cut nor wrapped, commands to copy on their own line, help texts that match what the
commands accept, ``hub --version``. Run through click's CliRunner, whose output is not a
terminal (as a pipe), at a width of 80 columns."""

from __future__ import annotations

import io
import re
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from hub.cli import main
from hub.core.settings import HubSettings

SEED = Path(__file__).resolve().parents[2] / "hub" / "data" / "seed_rouen.yaml"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> HubSettings:
    from hub.cli.context import build_actor_service

    settings = HubSettings(home=tmp_path_factory.mktemp("home"))
    build_actor_service(settings, publish=False).import_file(SEED)
    return settings


def _list(settings: HubSettings, columns: int) -> str:
    res = CliRunner().invoke(main, ["actors", "list"], obj=settings,
                             env={"COLUMNS": str(columns)}, terminal_width=columns)
    assert res.exit_code == 0, res.output
    return res.stdout


def _actors(settings: HubSettings) -> list[tuple[str, str, str]]:
    from hub.cli.actors import _territory
    from hub.cli.context import build_actor_service

    found = build_actor_service(settings, publish=False).store.list()
    return [(a.id, a.name, _territory(a.filters)) for a in found]


def test_actors_list_at_80_columns_keeps_ids_names_and_territories_whole(
    seeded: HubSettings,
) -> None:
    out = _list(seeded, 80)
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    for actor_id, name, territory in _actors(seeded):
        assert actor_id in lines, out  # alone on its line: copy it whole
        assert any(line.split(":", 1)[-1].strip() == name for line in lines), name
        assert any(line.split(":", 1)[-1].strip() == territory for line in lines), territory


def test_actors_list_on_a_wide_terminal_is_a_table_with_whole_values(
    seeded: HubSettings,
) -> None:
    out = _list(seeded, 160)
    rows = [line for line in out.splitlines() if line.startswith("│")]
    for actor_id, name, territory in _actors(seeded):
        row = next(r for r in rows if r.split("│")[1].strip() == actor_id)
        assert name in row and territory in row, row


def test_actors_list_empty_says_so_on_stderr(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["actors", "list"], obj=HubSettings(home=tmp_path))
    assert res.exit_code == 0 and res.stdout == ""
    assert "no actors registered" in res.stderr


def test_demo_report_at_80_columns(seeded: HubSettings) -> None:
    from hub.cli.context import build_actor_service
    from hub.cli.demo import _report
    from hub.cli.textout import print_command

    actors = build_actor_service(seeded, publish=False).store.list()
    counts = {a.id: 1000 + n for n, a in enumerate(actors)}
    buf = io.StringIO()
    console = Console(file=buf, width=80)
    _report(console, actors, counts, counts)
    command = f"hub feed {actors[0].id} --from-beginning --limit 5"
    print_command(console, "Every actor received its demands. Read one feed:", command)
    lines = buf.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), buf.getvalue()
    for a in actors:  # each id whole in a table row, with its counts
        assert any(re.search(rf"\b{re.escape(a.id)}\s.*\b{counts[a.id]}\b", line)
                   for line in lines), (a.id, buf.getvalue())
    assert lines[-1].strip() == command  # on its own line, whole


def test_a_value_wider_than_the_console_is_never_cut() -> None:
    from hub.cli.textout import Col, print_command, print_table

    buf = io.StringIO()
    console = Console(file=buf, width=40)
    long_id = "an-actor-id-much-longer-than-forty-characters-" + "x" * 20
    print_table(console, [Col("id"), Col("name", wrap=True)], [[long_id, "A name " * 12]])
    command = "hub feed " + long_id + " --from-beginning --limit 5"
    print_command(console, "Read:", command)
    lines = buf.getvalue().splitlines()
    assert long_id in lines and lines[-1].strip() == command, buf.getvalue()
    assert all(len(line) <= 40 for line in lines if long_id not in line)


def test_version() -> None:
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.startswith(f"hub, version {metadata.version('passerelle')}, from ")


def test_publish_help_names_exactly_the_accepted_file_types(tmp_path: Path) -> None:
    from connectors.ingress.publishing import InputLimits, iter_inputs
    from hub.core.settings import HubSettings as Settings

    res = CliRunner().invoke(main, ["publish", "--help"], terminal_width=80)
    assert res.exit_code == 0
    named = set(re.findall(r"(?<![\w/])\.(\w+)\b", res.stdout)) - {"demandes"}
    limits = InputLimits.of(Settings(home=tmp_path))
    accepted = set()
    for suffix in ("jsonl", "ndjson", "json", "xml", "txt", "csv", "yaml", "gz"):
        f = tmp_path / f"events.{suffix}"
        f.write_text("")
        refusals = [r for _, r in iter_inputs([f], limits) if isinstance(r, Exception)]
        if not any("unsupported file type" in str(r) for r in refusals):
            accepted.add(suffix)
    assert named == accepted, (named, accepted)
