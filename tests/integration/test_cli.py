"""The CLI as a person uses it, against the real broker: publish (JSON lines, XML files,
folders), feed, actors, demo; errors are one line with a non-zero exit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parent.parent.parent
DATA = REPO / "tests" / "data" / "interfacenuu"


def hub(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr
    return res.stderr.strip().splitlines()[-1]


@pytest.fixture()
def actor_file(tmp_path: Path) -> tuple[Path, str, str]:
    metz, paris = f"metz-{uuid.uuid4().hex[:6]}", f"paris-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "actors.yaml"
    path.write_text(
        "actors:\n"
        f"  - {{id: {metz}, name: Metz Habitat, kind: bailleur, profile: consultant_demande,"
        " filters: {communes: ['57463']}}\n"
        f"  - {{id: {paris}, name: Paris Habitat, kind: bailleur,"
        " filters: {communes: ['75056']}}\n"
    )
    return path, metz, paris


def test_actors_publish_and_feed(
    hub_env: dict[str, str], worker: Any, actor_file: Any, tmp_path: Path, settings: Any
) -> None:
    import asyncio

    from hub.services.feeds import feed_sizes

    path, metz, paris = actor_file
    res = hub(hub_env, "actors", "import", str(path))
    assert res.returncode == 0, res.stderr
    listed = hub(hub_env, "actors", "list", "--format", "json")
    assert {json.loads(line)["id"] for line in listed.stdout.splitlines()} >= {metz, paris}

    # JSON lines and XML files (a folder of them) in one call
    nums = [new_num_unique("057") for _ in range(3)]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "events.jsonl").write_text(
        "\n".join(json.dumps(demande_event(n, ["57463"])) for n in nums) + "\n"
    )
    from connectors.interfacenuu.mapping import parse_demande_xml, render_demande_xml

    # a complete SNE MOD document wishing Metz, made fresh so its event id is new
    mod_num = new_num_unique("057")
    mod = parse_demande_xml((DATA / "demande_complete.xml").read_bytes())
    mod.update(numUnique=mod_num)
    mod["demande"]["demandeLogement"]["numUnique"] = mod_num
    (inbox / "mod.xml").write_bytes(render_demande_xml(mod))

    ren_num = new_num_unique("075")  # a complete SNE document, renewed, wishing Paris 11e and 5e
    ren = parse_demande_xml((DATA / "demande_complete.xml").read_bytes())
    ren.update(operation="REN", numUnique=ren_num, changedFields=[])
    ren["demande"]["demandeLogement"]["numUnique"] = ren_num
    ren["demande"]["demandeLogement"]["logementRecherche"]["listeLocalisationSouhaite"] = [
        {"commune": "75111", "quartier": None},
        {"commune": "75105", "quartier": None},
    ]
    (inbox / "ren.xml").write_bytes(render_demande_xml(ren))
    res = hub(hub_env, "publish", str(inbox))
    assert res.returncode == 0, res.stderr
    assert "published 5 event(s)" in res.stdout

    # read as a person would: hub feed --format json, one object per line. A new actor also
    # receives copies of older demands of its territory: keep this test's demands only.
    def feed(actor: str, wanted: set[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 60
        while True:
            # fewer records than wanted demands: not all there yet, no `hub feed` for it
            if asyncio.run(feed_sizes(settings, [actor]))[actor] < len(wanted):
                if time.monotonic() > deadline:
                    return []
                time.sleep(0.5)
                continue
            out = hub(
                hub_env,
                "feed",
                actor,
                "--from-beginning",
                "--format",
                "json",
                "--idle-timeout",
                "2",
            )
            assert out.returncode == 0, out.stderr
            records = [json.loads(line) for line in out.stdout.splitlines()]
            mine = [r for r in records if r["numUnique"] in wanted]
            if {r["numUnique"] for r in mine} >= wanted or time.monotonic() > deadline:
                return mine

    got = feed(metz, {*nums, mod_num})
    assert sorted((r["numUnique"], r["kind"]) for r in got) == sorted(
        (n, "DEMANDE") for n in {*nums, mod_num}
    )
    assert all(r["profile"] == "consultant_demande" for r in got)
    xml_record = next(r for r in got if r["numUnique"] == mod_num)
    assert xml_record["operation"] == "MOD" and xml_record["changedFields"]
    paris_got = feed(paris, {ren_num})
    assert [(r["numUnique"], r["operation"]) for r in paris_got] == [
        (ren_num, "REN")
    ]  # 75111 is Paris


def test_publish_rejects_bad_input_with_one_line(hub_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = demande_event(new_num_unique(), ["76540"])
    unknown = demande_event(new_num_unique(), ["99999"])
    bad.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(unknown) + "\n")
    res = hub(hub_env, "publish", str(bad))
    assert "2 invalid event(s), nothing published" in one_line_error(res)
    assert f"{bad}:2: not JSON" in res.stderr
    assert (f"{bad}:3: logementRecherche/listeLocalisationSouhaite/commune: unknown INSEE commune"
            " code '99999'") in res.stderr
    hostile = tmp_path / "xxe.xml"
    hostile.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    )
    res = hub(hub_env, "publish", str(hostile))
    assert "invalid event" in one_line_error(res)
    assert "passwd" not in res.stdout
    res = hub(hub_env, "publish", "--dry-run", "--skip-invalid", str(bad))
    assert res.returncode == 0 and "1 valid event(s), 2 invalid" in res.stdout


def test_person_errors_are_one_line(hub_env: dict[str, str]) -> None:
    assert "no feed topic for actor" in one_line_error(
        hub(hub_env, "feed", "nobody-here", "--limit", "1")
    )
    assert "no actor" in one_line_error(hub(hub_env, "actors", "show", "nobody-here"))
    down = {**hub_env, "HUB_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    f = Path(__file__).resolve().parent.parent / "data" / "interfacenuu" / "demande_complete.xml"
    assert "Kafka" in one_line_error(hub(down, "publish", str(f), timeout=120))


def test_demo_small(hub_env: dict[str, str], tmp_path: Path) -> None:
    # Same consumer group as the session's worker: a second group would re-dispatch the
    # history of hub.demandes into the other tests' feeds.
    env = {**hub_env, "HUB_HOME": str(tmp_path / "demo-home"), "COLUMNS": "80"}
    res = hub(env, "demo", "--demandes", "300", "--timeout", "120", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Every actor received its demands" in res.stdout
    # piped at 80 columns (issue 21 point 3): every id whole, the commands to copy whole on
    # their own lines
    lines = res.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), res.stdout
    import yaml

    seed = yaml.safe_load((REPO / "hub" / "data" / "seed_rouen.yaml").read_text())
    for actor in seed["actors"]:
        assert any(re.match(rf"\W*{re.escape(actor['id'])}\s", line) for line in lines), (
            actor["id"], res.stdout)
    assert any(re.fullmatch(r"\s*hub feed [a-z0-9_-]+ --from-beginning --limit 5", line)
               for line in lines), res.stdout
    assert "hub stack down" in [line.strip() for line in lines]
    # the demo's worker writes to a log file: no terminal codes in it (faust's start-up
    # spinner wrote cursor hide/show codes to any stream)
    log = (tmp_path / "demo-home" / "demo-worker.log").read_bytes()
    assert b"\x1b[" not in log, log[:300]


def test_feed_says_what_it_waits_for_and_exits_at_end(
    hub_env: dict[str, str], worker: Any, settings: Any, tmp_path: Path
) -> None:
    """``hub feed`` (issue 21 point 3): the records on stdout, what it waits for on stderr;
    ``-e`` stops at the end offsets as of its start, as ``kcat -e``."""
    import asyncio

    from hub.services.feeds import feed_sizes

    actor = f"feed-e-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "actor.yaml"
    path.write_text(f"actors:\n  - {{id: {actor}, name: E, kind: bailleur,"
                    " filters: {communes: ['57463']}}\n")
    assert hub(hub_env, "actors", "import", str(path)).returncode == 0
    topic = f"hub.feed.{actor}"
    # on a broker reused from earlier runs, the import copies the active demands of 57463
    # published then: wait until the feed stops growing, so that "nothing new" below is
    # true (a fresh stack has none: one look, 1.5 s)
    sizes = [-1, asyncio.run(feed_sizes(settings, [actor]))[actor]]
    deadline = time.monotonic() + 60
    while sizes[-1] != sizes[-2]:
        assert time.monotonic() < deadline, sizes
        time.sleep(1.5)
        sizes.append(asyncio.run(feed_sizes(settings, [actor]))[actor])

    res = hub(hub_env, "feed", actor, "-e", timeout=60)  # nothing new as of the start
    assert res.returncode == 0 and res.stdout == "" and "waiting" not in res.stderr, res.stderr
    assert res.stderr.splitlines() == [f"end of {topic} reached: 0 record(s)"]
    res = hub(hub_env, "feed", actor, "--idle-timeout", "1")
    assert res.returncode == 0 and res.stdout == ""
    assert res.stderr.splitlines() == [f"waiting for new records on {topic} (stopping after 1 "
                                       "s without one; --from-beginning to read the past)"]

    nums = [new_num_unique("057") for _ in range(2)]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(demande_event(n, ["57463"])) + "\n" for n in nums))
    assert hub(hub_env, "publish", str(events)).returncode == 0
    deadline = time.monotonic() + 60
    while True:  # until both are in the feed and the feed stops growing (copies of older demands)
        size = asyncio.run(feed_sizes(settings, [actor]))[actor]
        if size < len(nums):  # they cannot both be there yet: no `hub feed` process for it
            assert time.monotonic() < deadline, f"feed of {size} record(s)"
            time.sleep(0.5)
            continue
        res = hub(hub_env, "feed", actor, "--from-beginning", "-e", "--format", "json")
        assert res.returncode == 0, res.stderr
        got = [json.loads(line) for line in res.stdout.splitlines()]
        stable = asyncio.run(feed_sizes(settings, [actor]))[actor] == size
        if stable and {r["numUnique"] for r in got} >= set(nums):
            break
        assert time.monotonic() < deadline, res.stdout
        time.sleep(1)
    # exactly the records present at its start, and said so
    assert len(got) == size and res.stderr == f"end of {topic} reached: {size:,} record(s)\n"

    res = hub(hub_env, "feed", actor, "--from-beginning", "--idle-timeout", "1")
    lines = res.stdout.splitlines()
    assert res.returncode == 0 and len(lines) == size  # one line per record
    assert all(len(line) <= 80 for line in lines), lines  # a person's 80 columns
    assert res.stderr.splitlines() == [
        f"end of {topic} reached; waiting for new records (stopping after 1 s without one)"]
