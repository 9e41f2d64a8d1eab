"""The writer schemas of the records the hub writes, by fingerprint: what a consumer that
meets an unknown fingerprint fetches instead of waiting for a copy of ``schemas/avro/``
(independent audit F6: every ``FeedRecord`` change stopped old consumers until they were
given the new file; docs/consumers.md, "A fingerprint you do not know")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from hub.api.context import current_actor
from hub.api.limits import GuardedRoute
from hub.api.problems import responses
from hub.core.errors import NotFoundError
from hub.domain.actors import Actor
from schemas import get_codec

router = APIRouter(route_class=GuardedRoute)

#: 8 bytes in wire order (the bytes after ``C3 01``), as fastavro's ``fingerprint`` prints
FINGERPRINT = r"^[0-9a-f]{16}$"


@router.get(
    "/schemas/{fingerprint}",
    tags=["feed"],
    summary="The writer schema of a fingerprint (single-object encoding)",
    responses=responses(401, 404, 422),
)
async def schema_by_fingerprint(
    fingerprint: Annotated[str, Path(pattern=FINGERPRINT)],
    actor: Actor = Depends(current_actor),  # noqa: B008 (any valid key: no personal data)
) -> dict[str, Any]:
    """``{"fingerprint", "name", "version", "schema"}``: ``schema`` is the stand-alone
    writer schema (every named type defined at its first use), current or historical,
    ready for ``fastavro.parse_schema``; its Parsing Canonical Form fingerprints to the
    fingerprint asked. 404 for a fingerprint the hub never wrote with."""
    found = get_codec().registry.by_fingerprint(bytes.fromhex(fingerprint))
    if found is None:
        raise NotFoundError(f"no schema of the hub has fingerprint {fingerprint}")
    return {"fingerprint": fingerprint, "name": found.fullname, "version": found.version,
            "schema": found.schema}  # fmt: skip
