"""The HTTP side shared by the simulator and the gateway: SNE-shaped SOAP endpoints.

``GET <prefix>/<Service>?wsdl`` answers the project's WSDL with the address set to
``<public_url>/<Service>``, where ``public_url`` comes from the server's settings
(:func:`public_base`), never from the request (its ``Host`` header is the caller's to
forge); ``POST <prefix>/<Service>`` decodes the request
(:mod:`connectors.sne.soap`), awaits ``handler(request)`` and encodes its answer, MTOM if
the request was MTOM. Contract: whatever the body, the answer is a SOAP response or a SOAP
Fault: bodies above :data:`~connectors.sne.soap.MAX_BODY` are refused before being read
whole, :class:`~hub.core.errors.InputError` becomes a ``Sender`` fault with its code,
a retriable :class:`~hub.core.errors.HubError` a ``Receiver`` fault with HTTP 503, anything else
a ``Receiver`` fault ``INTERNE`` (logged with its traceback, without the payload).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route

from connectors.sne.operations import SERVICES
from connectors.sne.soap import (
    MAX_BODY,
    Request,
    SoapFault,
    parse_request,
    render_fault,
    render_response,
)
from hub.core.errors import ConfigError, HubError, InputError
from schemas.registry import AVRO_DIR

log = logging.getLogger(__name__)
WSDL_DIR = AVRO_DIR.parent / "wsdl"
Handler = Callable[[Request], Awaitable[dict[str, Any]]]
FAULT_TYPE = "application/soap+xml; charset=utf-8"


#: bind addresses that say "every interface", not where a client can connect
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def public_base(configured: str, host: str, port: int, prefix: str = "/sne") -> str:
    """The base URL clients reach the services at: ``configured`` when set (trailing ``/``
    dropped), else ``http://<host>:<port><prefix>`` from the bind address (a wildcard host
    gives this machine's name, an IPv6 host is bracketed). Never from a request.
    :class:`ConfigError` when ``configured`` is not an http(s) URL."""
    if configured.strip():
        url = configured.strip().rstrip("/")
        if not url.lower().startswith(("http://", "https://")) or any(c in url for c in ' "<>'):
            raise ConfigError(f"public URL of the SOAP services must be http(s)://...: {url!r}")
        return url
    if host in _WILDCARDS:
        host = socket.gethostname()
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}{prefix}"


def wsdl_text(service: str, address: str) -> str:
    """The service's WSDL with its soap12:address set to ``address`` (XML-escaped)."""
    text = (WSDL_DIR / f"{service}.wsdl").read_text("utf-8")
    return text.replace(f"http://localhost:8080/sne/{service}", escape(address, {'"': "&quot;"}))


async def _read_capped(request: HttpRequest) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise SoapFault("TAILLE", f"request body above the {MAX_BODY} bytes cap", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise SoapFault("TAILLE", f"request body above the {MAX_BODY} bytes cap", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def fault_response(fault: SoapFault) -> Response:
    return Response(render_fault(fault), status_code=fault.status, media_type=FAULT_TYPE)


def soap_routes(handler: Handler, public_url: str, prefix: str = "/sne") -> list[Route]:
    """The routes of the three services under ``prefix``; served WSDLs give each service
    the address ``<public_url>/<Service>`` (see :func:`public_base`)."""
    public_url = public_url.rstrip("/")

    async def endpoint(request: HttpRequest) -> Response:
        service = request.path_params["service"]
        if service not in SERVICES:
            return Response(
                f"unknown service {service}\n", status_code=404, media_type="text/plain"
            )
        if request.method == "GET":
            if "wsdl" not in {k.lower() for k in request.query_params}:
                return Response("append ?wsdl\n", status_code=404, media_type="text/plain")
            address = f"{public_url}/{service}"
            return Response(wsdl_text(service, address), media_type="text/xml")
        try:
            body = await _read_capped(request)
            soap = parse_request(service, body, request.headers.get("content-type", ""))
            # a field sent twice is combined as RFC 9110 (5.3) says, never one of them
            # picked: the gateway refuses two Authorization headers (gateway/authz.py)
            soap.http_headers = {
                k.lower(): ", ".join(request.headers.getlist(k)) for k in request.headers
            }
            values = await handler(soap)
            payload, content_type = render_response(service, soap.operation, values, mtom=soap.mtom)
            return Response(payload, media_type=content_type)
        except SoapFault as fault:
            return fault_response(fault)
        except InputError as exc:
            return fault_response(SoapFault(exc.code, exc.message))
        except HubError as exc:
            status = 503 if exc.retriable else 500
            return fault_response(SoapFault(exc.code, exc.message, sender=False, status=status))
        except Exception:
            log.exception("internal error while serving %s", service)
            return fault_response(SoapFault("INTERNE", "internal error", sender=False))

    return [
        Route(f"{prefix}/{{service}}", endpoint, methods=["GET", "POST"]),
        Route(f"{prefix}/{{service}}/", endpoint, methods=["GET", "POST"]),
    ]


def soap_app(handler: Handler, public_url: str, prefix: str = "/sne", **kwargs: Any) -> Starlette:
    """A Starlette app serving only the SOAP routes (``kwargs`` go to Starlette)."""
    return Starlette(routes=soap_routes(handler, public_url, prefix), **kwargs)
