"""MTOM requests whose ``xop:Include href`` is the Content-ID written as RFC 2392 says
(audit finding 8): a ``cid:`` URL is the Content-ID %-encoded, so ``cid:a%40b`` names the
part ``Content-ID: <a@b>``. The multipart/related bodies are written by hand from
RFC 2387 (multipart/related), XOP 1.0 and RFC 2392 — not by the hub's own MTOM writer —
and posted over HTTP to the simulator and to the gateway (which share the SOAP parser),
the gateway relaying to the simulator and publishing to the real broker."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import requests

from connectors.sne.gateway import create_app as gateway_app
from hub.core.db import make_engine
from hub.core.settings import HubSettings
from hub.dev.sne_simulator import create_app as simulator_app
from tests.integration.api_support import register
from tests.support.sne import ROUEN, new_demande_xml, serve, serve_at

pytestmark = pytest.mark.kafka
WS = "http://ws.metier.nuu.application.i2/"

#: (Content-ID of the attachment, href of the xop:Include naming it)
CASES = {
    # '@' %-encoded, as several SOAP stacks write it
    "at-sign": ("doc1@passerelle.test", "cid:doc1%40passerelle.test"),
    # RFC 2392 section 2's own example: cid:foo4%25foo1@bar.net is <foo4%foo1@bar.net>
    "rfc2392-example": ("foo4%foo1@bar.net", "cid:foo4%25foo1@bar.net"),
    # .NET WCF: Content-ID <http://tempuri.org/1/...>, href every reserved character encoded
    "wcf": (
        "http://tempuri.org/1/634992395318000000",
        "cid:http%3A%2F%2Ftempuri.org%2F1%2F634992395318000000",
    ),
    # '/' %-encoded inside an ordinary id
    "slash": ("part/1@erp.example", "cid:part%2F1%40erp.example"),
    # nothing to decode: what already worked
    "plain": ("doc1@passerelle.test", "cid:doc1@passerelle.test"),
}


def mtom_body(operation: str, document: bytes, content_id: str, href: str) -> tuple[bytes, str]:
    """(body, Content-Type) of a SOAP 1.2 MTOM request carrying ``document`` as ``fluxXml``."""
    boundary = f"uuid:{uuid.uuid4()}"
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        f'<ws:{operation} xmlns:ws="{WS}"><fluxXml>'
        f'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="{href}"/>'
        f"</fluxXml></ws:{operation}></soap:Body></soap:Envelope>"
    ).encode()
    body = b"".join(
        [
            f"--{boundary}\r\n"
            'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
            "Content-Transfer-Encoding: binary\r\n"
            "Content-ID: <root.message@erp.example>\r\n\r\n".encode(),
            envelope,
            f"\r\n--{boundary}\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{content_id}>\r\n\r\n".encode(),
            document,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="<root.message@erp.example>"; start-info="application/soap+xml"'
    )
    return body, content_type


@pytest.fixture(scope="module")
def servers(
    settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    with serve(simulator_app(f"sqlite:///{db}")) as sim:
        sne = settings.sne.model_copy(update={"url": f"{sim}/sne", "retries": 1})
        cfg = settings.model_copy(update={"sne": sne})
        with serve_at(lambda base: gateway_app(cfg, public_url=f"{base}/sne")) as gw:
            caller = register(make_engine(settings.database_url), kind="guichet")
            yield {
                "simulator": f"{sim}/sne",
                "gateway": f"{gw}/sne",
                "auth": caller.headers["Authorization"],
            }


def _register(servers: dict[str, str], target: str, content_id: str, href: str) -> str:
    """The numéro the SNE gave the demand posted to ``target`` (an HTTP 200 answer)."""
    g = "C" + uuid.uuid4().hex[:4].upper()  # a new applicant each time: no DOUBLON
    body, ctype = mtom_body("getNumUnique", new_demande_xml(g, [ROUEN], nom=f"X{g}"),
                            content_id, href)  # fmt: skip
    headers = {"Content-Type": ctype}
    if target == "gateway":
        headers["Authorization"] = servers["auth"]
    resp = requests.post(f"{servers[target]}/DemandeLogementImplService", data=body,
                         headers=headers, timeout=30)  # fmt: skip
    assert resp.status_code == 200, resp.text[:500]
    found = re.search(rb"numUnique>([0-9A-Z]{18})<", resp.content)
    assert found is not None, resp.content[:500]
    return found[1].decode()


@pytest.mark.parametrize("target", ["simulator", "gateway"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_rfc2392_encoded_href_finds_its_part(
    servers: dict[str, str], target: str, case: str
) -> None:
    content_id, href = CASES[case]
    assert len(_register(servers, target, content_id, href)) == 18


@pytest.mark.parametrize("target", ["simulator", "gateway"])
def test_an_href_naming_no_part_is_still_a_mime_fault(servers: dict[str, str], target: str) -> None:
    body, ctype = mtom_body("getNumUnique", new_demande_xml("C0000", [ROUEN]),
                            "doc1@passerelle.test", "cid:doc2%40passerelle.test")  # fmt: skip
    headers = {"Content-Type": ctype, "Authorization": servers["auth"]}
    resp = requests.post(f"{servers[target]}/DemandeLogementImplService", data=body,
                         headers=headers, timeout=30)  # fmt: skip
    assert resp.status_code == 400
    assert b"<code>MIME</code>" in resp.content
