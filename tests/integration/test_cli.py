"""The CLI as a person uses it, against the real broker: publish (JSON lines, XML files,
folders), feed, actors, demo; errors are one line with a non-zero exit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
DATA = Path(__file__).resolve().parent.parent / "data" / "interfacenuu"


def hub(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
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
        f"  - {{id: {paris}, name: Paris Habitat, kind: bailleur, filters: {{communes: ['75056']}}}}\n"
    )
    return path, metz, paris


def test_actors_publish_and_feed(hub_env: dict[str, str], worker: Any, actor_file: Any, tmp_path: Path) -> None:
    path, metz, paris = actor_file
    res = hub(hub_env, "actors", "import", str(path))
    assert res.returncode == 0, res.stderr
    listed = hub(hub_env, "actors", "list", "--format", "json")
    assert {json.loads(line)["id"] for line in listed.stdout.splitlines()} >= {metz, paris}

    # JSON lines and XML files (a folder of them) in one call
    nums = [new_num_unique("057") for _ in range(3)]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "events.jsonl").write_text("\n".join(json.dumps(demande_event(n, ["57463"])) for n in nums) + "\n")
    shutil.copy(DATA / "demande_complete.xml", inbox / "mod.xml")  # MOD of 057121507390310691 (Metz)
    from connectors.interfacenuu.mapping import parse_demande_xml, render_demande_xml

    ren_num = new_num_unique("075")  # a complete SNE document, renewed, wishing Paris 11e and 5e
    ren = parse_demande_xml((DATA / "demande_complete.xml").read_bytes())
    ren.update(operation="REN", numUnique=ren_num, changedFields=[])
    ren["demande"]["demandeLogement"]["numUnique"] = ren_num
    ren["demande"]["demandeLogement"]["logementRecherche"]["listeLocalisationSouhaite"] = [
        {"commune": "75111", "quartier": None}, {"commune": "75105", "quartier": None}]
    (inbox / "ren.xml").write_bytes(render_demande_xml(ren))
    res = hub(hub_env, "publish", str(inbox))
    assert res.returncode == 0, res.stderr
    assert "published 5 event(s)" in res.stdout

    # read as a person would: hub feed --format json, one object per line
    def feed(actor: str, n: int) -> list[dict[str, Any]]:
        out = hub(hub_env, "feed", actor, "--from-beginning", "--limit", str(n), "--format", "json",
                  "--idle-timeout", "60")
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines()]

    got = feed(metz, 4)
    assert {r["numUnique"] for r in got} == {*nums, "057121507390310691"}
    assert all(r["profile"] == "consultant_demande" for r in got)
    xml_record = next(r for r in got if r["numUnique"] == "057121507390310691")
    assert xml_record["operation"] == "MOD" and xml_record["changedFields"]
    paris_got = feed(paris, 1)
    assert paris_got[0]["numUnique"] == ren_num  # arrondissements belong to Paris
    assert paris_got[0]["operation"] == "REN"


def test_publish_rejects_bad_input_with_one_line(hub_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = demande_event(new_num_unique(), ["76540"])
    unknown = demande_event(new_num_unique(), ["99999"])
    bad.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(unknown) + "\n")
    res = hub(hub_env, "publish", str(bad))
    assert "2 invalid event(s), nothing published" in one_line_error(res)
    assert f"{bad}:2: not JSON" in res.stderr
    assert f"{bad}:3: unknown INSEE commune code '99999'" in res.stderr
    hostile = tmp_path / "xxe.xml"
    hostile.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    res = hub(hub_env, "publish", str(hostile))
    assert "invalid event" in one_line_error(res)
    assert "passwd" not in res.stdout
    res = hub(hub_env, "publish", "--dry-run", "--skip-invalid", str(bad))
    assert res.returncode == 0 and "1 valid event(s), 2 invalid" in res.stdout


def test_person_errors_are_one_line(hub_env: dict[str, str]) -> None:
    assert "no feed topic for actor" in one_line_error(hub(hub_env, "feed", "nobody-here", "--limit", "1"))
    assert "no actor" in one_line_error(hub(hub_env, "actors", "show", "nobody-here"))
    down = {**hub_env, "HUB_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    f = Path(__file__).resolve().parent.parent / "data" / "interfacenuu" / "demande_complete.xml"
    assert "Kafka" in one_line_error(hub(down, "publish", str(f), timeout=120))


def test_demo_small(hub_env: dict[str, str], tmp_path: Path) -> None:
    env = {**hub_env, "HUB_HOME": str(tmp_path / "demo-home"), "HUB_WORKER__APP_ID": f"demo-{uuid.uuid4().hex[:6]}"}
    res = hub(env, "demo", "--demandes", "300", "--timeout", "120", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Every actor received its demands" in res.stdout
    assert "rouen-habitat" in res.stdout
