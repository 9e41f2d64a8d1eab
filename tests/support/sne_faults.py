"""An SNE that misbehaves on purpose, for the poller's tests: the simulator behind an ASGI
layer (:class:`FaultySne`) that delays chosen numéros' reads, answers chosen operations or
numéros by hand — bytes written here from the SOAP 1.2 and HTTP specifications, never
produced by the hub's code — or runs a hook when an operation is called; and
:func:`served`, a real uvicorn server on a free loopback port that a test (or a hook) can
stop, so that the next connections are refused."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.support.sne import free_port, start_server

OPERATION = re.compile(
    rb"<(?:[\w.-]+:)?(getDemandeLogement|getDemandesRadieesDepuisLe|"
    rb"rechercheDemandeMulticritere|getNumUnique)\b"
)
NUM = re.compile(rb"<(?:[\w.-]+:)?numUnique>\s*([^<\s]+)\s*<")
SOAP12 = "application/soap+xml; charset=utf-8"
WS = "http://ws.metier.nuu.application.i2/"


@dataclass(frozen=True)
class Raw:
    """A whole HTTP answer, as sent."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def response(operation: str, parts: str) -> bytes:
    return envelope(f'<ns2:{operation}Response xmlns:ns2="{WS}">{parts}</ns2:{operation}Response>')


def fault(code: str, message: str, *, status: int = 500) -> Raw:
    """A SOAP 1.2 Fault carrying ``demandeLogementException(code, message)`` (the WSDL's
    fault detail)."""
    return Raw(status, SOAP12, envelope(
        "<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>"
        f'<env:Reason><env:Text xml:lang="fr">{message}</env:Text></env:Reason>'
        f'<env:Detail><ns2:demandeLogementException xmlns:ns2="{WS}"><code>{code}</code>'
        f"<message>{message}</message></ns2:demandeLogementException></env:Detail></env:Fault>"
    ))  # fmt: skip


def hostile(name: str, operation: str) -> Raw:
    """The hand-written answer ``name`` (one of :data:`HOSTILE`) to ``operation``."""
    html = b"<html><head><title>Maintenance</title></head><body><h1>Service indisponible"
    answers = {
        # a proxy's maintenance page, HTML that is not XML, with 200
        "html_page": Raw(200, "text/html", html + b"<br></body></html>"),
        # the same page well-formed: XML, but no SOAP envelope
        "xhtml_page": Raw(200, "text/html", html + b"</h1></body></html>"),
        "plain_text": Raw(200, "text/plain", b"Service Unavailable"),
        "html_error_503": Raw(503, "text/html", html + b"<br></body></html>"),
        "cut_envelope": Raw(200, SOAP12, response(operation, "<return>PD94")[:-40]),
        "empty_return": Raw(200, SOAP12, response(operation, "<return/>")),
        "no_return": Raw(200, SOAP12, response(operation, "")),
        "empty_body": Raw(200, SOAP12, envelope("")),
        "return_not_xml": Raw(200, SOAP12, response(
            operation, f"<return>{base64.b64encode(b'pas du XML').decode()}</return>")),
        "return_cut_xml": Raw(200, SOAP12, response(operation, "<return>{}</return>".format(
            base64.b64encode(b'<interfaceNuu xmlns="http://nuu.application.i2/"><ent').decode()
        ))),
        # multipart/related announced, no MIME parts in the body
        "not_multipart": Raw(
            200, 'multipart/related; type="application/xop+xml"; boundary="b1"', b"garbage"
        ),
        # gzip announced, not gzip
        "not_gzip": Raw(200, SOAP12, b"\x00not gzip", (("content-encoding", "gzip"),)),
        "fault_without_detail": Raw(500, SOAP12, envelope(
            "<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code>"
            '<env:Reason><env:Text xml:lang="fr">Erreur interne</env:Text></env:Reason>'
            "</env:Fault>")),
    }  # fmt: skip
    return answers[name]


#: the hand-written hostile answers of :func:`hostile`
HOSTILE = (
    "html_page", "xhtml_page", "plain_text", "html_error_503", "cut_envelope",
    "empty_return", "no_return", "empty_body", "return_not_xml", "return_cut_xml",
    "not_multipart", "not_gzip", "fault_without_detail",
)  # fmt: skip
#: those that are a transport failure (an HTTP error without a SOAP answer)
TRANSPORT = frozenset({"html_error_503"})


@dataclass
class FaultySne:
    """ASGI app in front of ``inner`` (the simulator). For each SOAP POST, in order: runs
    ``hooks[operation]``; waits ``delays[numéro]`` (a ``getDemandeLogement`` of that
    numéro) or ``delays[operation]`` seconds; answers ``answers[numéro]`` or
    ``answers[operation]`` if set, else forwards the request to ``inner`` (a read of
    numéro X as one of ``aliases[X]`` if set). ``calls`` lists (operation, numéro or "")."""

    inner: Any
    delays: dict[str, float] = field(default_factory=dict)
    answers: dict[str, Raw] = field(default_factory=dict)
    hooks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    #: numéro → the numéro whose read is forwarded instead (an answer about another demand)
    aliases: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.inner(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        op_match, num_match = OPERATION.search(body), NUM.search(body)
        op = op_match.group(1).decode() if op_match else ""
        num = num_match.group(1).decode() if num_match and op == "getDemandeLogement" else ""
        self.calls.append((op, num))
        hook = self.hooks.get(op)
        if hook is not None:
            hook()
        delay = (self.delays.get(num) if num else None) or self.delays.get(op)
        if delay:
            await asyncio.sleep(delay)
        raw = self.answers.get(num) if num else None
        raw = raw or self.answers.get(op)
        if raw is not None:
            headers = [(b"content-type", raw.content_type.encode())]
            headers += [(k.encode(), v.encode()) for k, v in raw.headers]
            headers.append((b"content-length", str(len(raw.body)).encode()))
            await send({"type": "http.response.start", "status": raw.status, "headers": headers})
            await send({"type": "http.response.body", "body": raw.body})
            return
        if num in self.aliases:
            body = body.replace(num.encode(), self.aliases[num].encode())
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.inner(scope, replay, send)


@dataclass
class Served:
    base: str
    server: uvicorn.Server

    def stop(self) -> None:
        """Stop serving: the listening socket closes within ~0.1 s (in-flight requests end)."""
        self.server.should_exit = True


@contextmanager
def served(app: Any) -> Iterator[Served]:
    """Serve ``app`` on a free loopback port until the end of the block or ``stop()``."""
    port = free_port()
    server, thread = start_server(app, port)
    try:
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(10)
