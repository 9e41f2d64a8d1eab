"""Legacy file exchange end to end on the real broker and a real `hub worker`: files
dropped in an inbox reach the right actors' DIS outboxes; bad files go to error/."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connectors.interfacenuu.mapping import XSD_PATH, parse_demande_xml
from hub.domain.actors import Actor, ActorFilters, Delivery
from tests.integration.conftest import collect_feed
from tests.support.demandes import new_num_unique
from tests.support.legacy_files import drop, files_env, hub, legacy_xml, read_dis

pytestmark = pytest.mark.kafka

# communes no other test uses: no other test's demand lands in these actors' feeds
DIEPPE, TERRES_DE_CAUX = "76217", "76258"
XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<interfaceNuu xmlns="http://nuu.application.i2/" versionInterface="02.01">'
       b"<entete><typeFichier>&x;</typeFichier></entete></interfaceNuu>")


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def file_actor(service: Any, aid: str, outdir: Path, communes: list[str],
               profile: str = "consultant_simple") -> Actor:
    actor = Actor(id=aid, name=aid, kind="bailleur", profile=profile,  # type: ignore[arg-type]
                  filters=ActorFilters(communes=communes),
                  delivery=Delivery(channel="file", options={"dir": str(outdir)}))
    service.add_or_update(actor)
    return actor


def test_inbox_to_outboxes(settings, worker, actor_service, hub_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = uid("erp")
    env = files_env(hub_env, tmp_path / "files", source)
    rouen, havre = uid("frouen"), uid("fhavre")
    file_actor(actor_service, rouen, tmp_path / "out-rouen", [DIEPPE])
    file_actor(actor_service, havre, tmp_path / "out-havre", [TERRES_DE_CAUX],
               profile="consultant_sensible")
    inbox = tmp_path / "files" / "inbox" / source
    n1, n2 = new_num_unique(), new_num_unique()
    docs = {
        "01-cre-n1.xml": legacy_xml(n1, [DIEPPE]),
        "02-cre-n2.xml": legacy_xml(n2, [TERRES_DE_CAUX]),
        "03-mod-n1.xml": legacy_xml(n1, [DIEPPE, TERRES_DE_CAUX], operation="MOD"),
    }
    for name, data in docs.items():
        drop(inbox, name, data)
    drop(inbox, "04-broken.xml", b"<interfaceNuu><entete>")
    drop(inbox, "05-xxe.xml", XXE)
    drop(inbox, "06-unknown-commune.xml", legacy_xml(new_num_unique(), ["76999"]))
    (inbox / "07-writing.xml.tmp").write_bytes(b"<half")  # a writer still at work

    run = hub(env, "files", "scan")
    assert run.returncode == 0, run.stderr
    assert "3 published, 3 rejected" in run.stdout

    # inbox: emptied but for the work in progress; done/ and error/ hold files and reports
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["07-writing.xml.tmp"]
    done = {p.name for p in (inbox / "done").iterdir()}
    assert done == set(docs) | {f"{n}.report.json" for n in docs}
    for name, data in docs.items():
        report = json.loads((inbox / "done" / f"{name}.report.json").read_text())
        assert report["status"] == "published" and report["reason"] is None
        assert report["eventId"] == parse_demande_xml(data)["eventId"]
        assert (inbox / "done" / name).read_bytes() == data
    reasons = {n: json.loads((inbox / "error" / f"{n}.report.json").read_text())["reason"]
               for n in ("04-broken.xml", "05-xxe.xml", "06-unknown-commune.xml")}
    assert reasons == {"04-broken.xml": "malformed_xml", "05-xxe.xml": "hostile_xml",
                       "06-unknown-commune.xml": "unknown_commune"}
    xxe_report = json.loads((inbox / "error" / "05-xxe.xml.report.json").read_text())
    assert xxe_report["status"] == "rejected" and "DOCTYPE" in xxe_report["message"]

    # the worker dispatches; then the outboxes write what each actor received
    nums = {n1, n2}
    collect_feed(settings, rouen, worker=worker,
                 until=lambda rs: sum(r["numUnique"] in nums for r in rs) >= 2)
    collect_feed(settings, havre, worker=worker,
                 until=lambda rs: sum(r["numUnique"] in nums for r in rs) >= 2)
    for actor in (rouen, havre):
        run = hub(env, "files", "outbox", "--actor", actor, "--once")
        assert run.returncode == 0, run.stderr

    # a new actor also gets copies (COPIE) of the demands already in its territory
    all_rouen = read_dis(tmp_path / "out-rouen")
    got_rouen = [r for r in all_rouen if r["numUnique"] in nums]
    assert [(r["numUnique"], r["operation"], r["nature"], r["typeFichier"]) for r in got_rouen] == [
        (n1, "CRE", "DEMANDE", "DIS"), (n1, "MOD", "DEMANDE", "DIS")]
    assert [r["communes"] for r in got_rouen] == [[DIEPPE], [DIEPPE, TERRES_DE_CAUX]]
    # cut to the profile: consultant_simple never gets the handicap details
    assert not any(r["sensitive"] for r in got_rouen)
    all_havre = read_dis(tmp_path / "out-havre")
    got_havre = [r for r in all_havre if r["numUnique"] in nums]
    assert [(r["numUnique"], r["operation"]) for r in got_havre] == [(n2, "CRE"), (n1, "MOD")]
    assert all(r["sensitive"] for r in got_havre)
    assert all(r["lot"]["acteur"] == havre for r in all_havre)
    xsd = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    for r in got_rouen + got_havre:
        assert xsd.validate(r["document"]), xsd.error_log.last_error
    # every feed record is in exactly one file, in feed order
    for records in (all_rouen, all_havre):
        offsets = [int(r["offset"]) for r in records]
        assert offsets == sorted(set(offsets)) == list(range(offsets[0], offsets[-1] + 1))
    # the DIS records carry the event ids of the files that were dropped
    assert {r["eventId"] for r in got_rouen} == {
        parse_demande_xml(docs[n])["eventId"] for n in ("01-cre-n1.xml", "03-mod-n1.xml")}

    # a second run finds nothing new: offsets were committed after the files
    before = sorted(p.name for p in (tmp_path / "out-rouen").iterdir())
    run = hub(env, "files", "outbox", "--actor", rouen, "--once")
    assert run.returncode == 0 and "0 file(s)" in run.stdout, run.stdout + run.stderr
    assert sorted(p.name for p in (tmp_path / "out-rouen").iterdir()) == before
    assert not any(p.name.startswith(".") for p in (tmp_path / "out-rouen").iterdir())


def test_cli_errors_are_one_line(hub_env, actor_service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = files_env(hub_env, tmp_path / "files", "erp")
    env.pop("HUB_FILES__SOURCES")
    run = hub(env, "files", "scan")
    assert run.returncode == 1 and "no file source configured" in run.stderr
    assert "Traceback" not in run.stderr
    kafka_actor = uid("kafka")
    actor_service.add_or_update(Actor(id=kafka_actor, name="k", kind="bailleur",
                                      filters=ActorFilters(communes=["76540"])))
    run = hub(env, "files", "outbox", "--actor", kafka_actor, "--once")
    assert run.returncode == 1 and "delivers by kafka, not by file" in run.stderr
    run = hub(env, "files", "outbox", "--actor", uid("absent"), "--once")
    assert run.returncode == 1 and "Traceback" not in run.stderr
