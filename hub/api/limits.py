"""What a request may cost before it is refused: body size, authentication, JSON depth.

Every route of the API is a :class:`GuardedRoute`. Before FastAPI reads or parses a body,
in this order (docs/limits.md, "REST API"):

1. a declared ``Content-Length`` above ``api.max_body_bytes`` is refused (413) before any
   byte of the body is read; a malformed one is a 400;
2. a route that needs an actor authenticates it (401 without a valid key): a request
   without a valid key never has its body read nor parsed;
3. the body is read chunk by chunk and refused (413) as soon as the bytes read pass
   ``api.max_body_bytes`` (a chunked body declares no length): the rest is never read;
4. a body nested deeper than ``api.max_json_depth`` arrays and objects is refused (422)
   by a linear scan before it is parsed (Python's ``json`` recurses once per level);
5. a query parameter the route does not declare is refused (422), not silently ignored
   (``?cursr=5`` is a mistake the caller must hear about).

Then FastAPI parses and validates the body against the route's model as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from hub.api.context import BadRequest, authenticate, current_actor, get_context
from hub.core.errors import InputError
from hub.core.jsonlines import depth_exceeds

#: a JSON string (closing quote optional, so an unterminated one ends the scan in linear
#: time) or one bracket; everything else is skipped by ``finditer``


class BodyTooLarge(InputError):
    """A request body above ``api.max_body_bytes`` (HTTP 413)."""

    code = "body_too_large"


def _uses(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _uses(d, call) for d in dependant.dependencies)


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for d in dependant.dependencies:
        names |= _query_names(d)
    return names


async def read_bounded(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as more than ``limit`` bytes came."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body above {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    if not declared.strip().isdigit():
        raise BadRequest("malformed Content-Length header")
    return int(declared)


class GuardedRoute(APIRoute):
    """An API route whose body is bounded and whose caller is authenticated first (see
    the module doc)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        needs_actor = _uses(self.dependant, current_actor)
        known = _query_names(self.dependant)

        async def guarded(request: Request) -> Response:
            limits = get_context(request).settings.api
            declared = _declared_length(request)
            if declared is not None and declared > limits.max_body_bytes:
                raise BodyTooLarge(
                    f"request body of {declared} bytes, above {limits.max_body_bytes}"
                )
            if needs_actor:
                await authenticate(request)
            if declared or "transfer-encoding" in request.headers:
                body = await read_bounded(request, limits.max_body_bytes)
                if depth_exceeds(body, limits.max_json_depth):
                    raise InputError(
                        f"JSON nested deeper than {limits.max_json_depth} levels", code="too_deep"
                    )
                request._body = body  # what FastAPI reads and parses next
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                raise InputError(
                    f"unknown query parameter {unknown[0][:40]!r} (known: "
                    f"{', '.join(sorted(known)) or 'none'})",
                    code="unknown_parameter",
                )
            return await handler(request)

        return guarded
