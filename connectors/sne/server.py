"""The HTTP side shared by the simulator and the gateway: SNE-shaped SOAP endpoints.

``GET <prefix>/<Service>?wsdl`` answers the project's WSDL with the address rewritten to
the URL it was asked at; ``POST <prefix>/<Service>`` decodes the request
(:mod:`connectors.sne.soap`), awaits ``handler(request)`` and encodes its answer, MTOM if
the request was MTOM. Contract: whatever the body, the answer is a SOAP response or a SOAP
Fault: bodies above :data:`~connectors.sne.soap.MAX_BODY` are refused before being read
whole, :class:`~hub.errors.InputError` becomes a ``Sender`` fault with its code,
a retriable :class:`~hub.errors.HubError` a ``Receiver`` fault with HTTP 503, anything else
a ``Receiver`` fault ``INTERNE`` (logged with its traceback, without the payload).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

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
from hub.errors import HubError, InputError
from schemas.registry import AVRO_DIR

log = logging.getLogger(__name__)
WSDL_DIR = AVRO_DIR.parent / "wsdl"
Handler = Callable[[Request], Awaitable[dict[str, Any]]]
FAULT_TYPE = "application/soap+xml; charset=utf-8"


def wsdl_text(service: str, address: str) -> str:
    """The service's WSDL with its soap12:address set to ``address``."""
    text = (WSDL_DIR / f"{service}.wsdl").read_text("utf-8")
    return text.replace(f"http://localhost:8080/sne/{service}", address)


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


def soap_routes(handler: Handler, prefix: str = "/sne") -> list[Route]:
    """The routes of the three services under ``prefix``."""

    async def endpoint(request: HttpRequest) -> Response:
        service = request.path_params["service"]
        if service not in SERVICES:
            return Response(
                f"unknown service {service}\n", status_code=404, media_type="text/plain"
            )
        if request.method == "GET":
            if "wsdl" not in {k.lower() for k in request.query_params}:
                return Response("append ?wsdl\n", status_code=404, media_type="text/plain")
            address = str(request.url.replace(query=None)).rstrip("/")
            return Response(wsdl_text(service, address), media_type="text/xml")
        try:
            body = await _read_capped(request)
            soap = parse_request(service, body, request.headers.get("content-type", ""))
            soap.http_headers = {k.lower(): v for k, v in request.headers.items()}
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


def soap_app(handler: Handler, prefix: str = "/sne", **kwargs: Any) -> Starlette:
    """A Starlette app serving only the SOAP routes (``kwargs`` go to Starlette)."""
    return Starlette(routes=soap_routes(handler, prefix), **kwargs)
