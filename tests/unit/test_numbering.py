"""Creations the SNE has not numbered yet (issue 17 point 5), below the broker: the numbering
step of ``prepare_event`` against the real simulator (uvicorn on loopback), and its
refusals — no SNE configured, the SNE refusing — each one line, never an empty key."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.ingress.publishing import check_event, prepare_event
from connectors.interfacenuu.mapping import parse_demande_xml
from hub.core.errors import InputError
from hub.core.settings import get_settings
from hub.dev.sne_simulator import create_app
from tests.support.sne import ROUEN, new_demande_xml, serve


class Counting:
    """ASGI wrapper counting the POST requests (SOAP calls) that reach the simulator."""

    def __init__(self, app: Any) -> None:
        self.app, self.posts = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.posts += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Counting]]:
    app = Counting(create_app(f"sqlite:///{tmp_path_factory.mktemp('sim') / 'sim.db'}"))
    with serve(app) as base:
        yield f"{base}/sne", app


@pytest.fixture()
def hub_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Set the hub's settings (HUB_HOME in tmp_path, HUB_SNE__URL as given)."""

    def configure(sne_url: str) -> Path:
        monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("HUB_SNE__URL", sne_url)
        monkeypatch.setenv("HUB_SNE__RETRIES", "0")
        get_settings.cache_clear()
        return tmp_path / "home"

    yield configure
    get_settings.cache_clear()


def guichet() -> str:
    return "N" + uuid.uuid4().hex[:4].upper()


def test_creation_without_number_is_numbered_by_the_sne(
    simulator: tuple[str, Counting], hub_with: Any
) -> None:
    url, _ = simulator
    home = hub_with(url)
    g = guichet()
    xml = new_demande_xml(g, [ROUEN], nom=f"NUM{g}")
    assert parse_demande_xml(xml)["numUnique"] == ""
    prepared = prepare_event(xml)
    num = prepared.event["numUnique"]
    assert len(num) == 18 and num.startswith("076") and num.endswith(g)
    assert prepared.key == num.encode()
    assert prepared.event["demande"]["demandeLogement"]["numUnique"] == num
    # the attestation the SNE answered is kept under its name, owner-only, a real PDF
    pypdf = pytest.importorskip("pypdf")
    pdf = home / "sne-attestations" / num / f"attestation_enregistrement_{num}.pdf"
    assert pdf.stat().st_mode & 0o777 == 0o600
    text = pypdf.PdfReader(io.BytesIO(pdf.read_bytes()), strict=True).pages[0].extract_text()
    assert f"{num[:3]} {num[3:7]} {num[7:13]} {num[13:]}" in text
    # a JSON event without numUnique takes the same step
    event = parse_demande_xml(new_demande_xml(g, [ROUEN], nom=f"JSN{g}"))
    del event["numUnique"]
    other = prepare_event(event)
    assert other.key.decode().endswith(g) and other.key != prepared.key


def test_the_sne_refusing_is_one_line(simulator: tuple[str, Counting], hub_with: Any) -> None:
    url, _ = simulator
    hub_with(url)
    g = guichet()
    prepare_event(new_demande_xml(g, [ROUEN], nom=f"DUP{g}"))
    with pytest.raises(InputError) as err:  # same applicant again: the SNE's DOUBLON
        prepare_event(new_demande_xml(g, [ROUEN], nom=f"DUP{g}"))
    assert err.value.code == "sne_refused"
    assert "DOUBLON" in err.value.message and "\n" not in err.value.message


def test_without_sne_a_creation_without_number_is_refused_in_one_line(
    simulator: tuple[str, Counting], hub_with: Any
) -> None:
    _url, counting = simulator
    hub_with("")
    before = counting.posts
    xml = new_demande_xml(guichet(), [ROUEN])
    for call in (prepare_event, check_event):
        with pytest.raises(InputError) as err:
            call(xml)
        assert err.value.code == "no_sne"
        assert "no SNE is configured" in err.value.message
        assert "malformed" not in err.value.message
    # a numbered creation needs no SNE
    numbered = new_demande_xml(guichet(), [ROUEN], num_unique="076112500000110691")
    assert prepare_event(numbered).key == b"076112500000110691"
    assert counting.posts == before


def test_hub_publish_dry_run_never_calls_the_sne(
    simulator: tuple[str, Counting], hub_with: Any, tmp_path: Path
) -> None:
    from hub.cli.publish import publish

    url, counting = simulator
    hub_with(url)
    g = guichet()
    (tmp_path / "new.xml").write_bytes(new_demande_xml(g, [ROUEN], nom=f"DRY{g}"))
    event = parse_demande_xml(new_demande_xml(g, [ROUEN], nom=f"DRJ{g}"))
    del event["numUnique"]
    (tmp_path / "new.jsonl").write_text(json.dumps(event) + "\n")
    before = counting.posts
    result = CliRunner().invoke(publish, ["--dry-run", str(tmp_path / "new.xml"),
                                          str(tmp_path / "new.jsonl")])
    assert result.exit_code == 0, result.output
    assert "2 valid event(s), 2 would be numbered by the SNE" in result.output
    assert counting.posts == before

    hub_with("")
    result = CliRunner().invoke(publish, ["--dry-run", str(tmp_path / "new.xml")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].endswith("new.xml: CRE without numéro unique: only the SNE numbers a new "
                             "demand and no SNE is configured (set HUB_SNE__URL)")
    assert "malformed" not in result.output


def test_inbox_leaves_a_creation_for_later_when_the_sne_is_unreachable(
    hub_with: Any, tmp_path: Path
) -> None:
    from connectors.files.inbox import PUBLISHED, Candidate, examine
    from connectors.files.journal import Journal
    from connectors.files.numbering import SneState, ready
    from tests.support.sne import free_port

    path = tmp_path / "new.xml"
    path.write_bytes(new_demande_xml(guichet(), [ROUEN]))
    st = path.stat()
    candidate = Candidate(path, st.st_size, st.st_mtime_ns)
    hub_with(f"http://127.0.0.1:{free_port()}/sne")  # nothing listens: SneUnavailable
    outcome = examine(candidate, "erp")  # examining never calls the SNE
    assert outcome is not None and outcome.status == PUBLISHED and outcome.prepared is None
    journal, sne = Journal(tmp_path / "journal"), SneState()
    assert ready(outcome, journal, sne) is None  # not rejected: retried at a later pass
    assert sne.down and journal.number_of(outcome.sha256) is None
    assert path.exists()
    hub_with("")
    outcome = examine(candidate, "erp")
    assert outcome is not None and outcome.status != PUBLISHED
    assert outcome.reason == "no_sne" and "no SNE is configured" in outcome.message


def test_gateway_and_poller_refuse_to_start_without_sne(hub_with: Any) -> None:
    from hub.cli.sne import sne_poll, soap_gateway
    from hub.core.errors import ConfigError

    hub_with("")
    for command in (soap_gateway, sne_poll):
        result = CliRunner().invoke(command, [])
        assert isinstance(result.exception, ConfigError)
        assert "no SNE configured: set HUB_SNE__URL" in str(result.exception)
