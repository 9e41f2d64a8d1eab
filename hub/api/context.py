"""What the routes share: settings, database stores, Kafka publisher (one per app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from hub.core.errors import AuthenticationError, ForbiddenError, InputError
from hub.core.kafka.feed_pool import FeedPages
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.stores.access.holders import Holders
from hub.stores.access.keys import KeyStore
from hub.stores.audit.store import AuditStore
from hub.stores.cal.service import CALService
from hub.stores.gp.service import GPService


@dataclass
class ApiContext:
    settings: HubSettings
    keys: KeyStore
    holders: Holders
    publisher: KafkaPublisher
    gp: GPService
    cal: CALService
    audit: AuditStore
    #: the process's feed reader (holders, snapshots, the feed route): closed at shutdown
    pages: FeedPages = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.pages is None:
            self.pages = self.holders.pages or FeedPages(self.settings)

    async def require_holder(self, actor: Actor, num_unique: str) -> None:
        """ForbiddenError unless ``actor`` holds the demand (see :mod:`hub.stores.access.holders`).
        Having authored events on the demand is not enough: a RETRAIT revokes access."""
        if await self.holders.holds(actor.id, num_unique):
            return
        # same answer whether the demand exists or not: no probing of other actors' demands
        raise ForbiddenError(f"actor {actor.id} does not hold demand {num_unique}")


class BadRequest(InputError):
    """A request whose framing is broken (HTTP 400): e.g. a malformed Content-Length, two
    ``Authorization`` headers."""

    code = "bad_request"


_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer hk_...`")


def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.hub
    return ctx


def _bearer_key(request: Request) -> str:
    """The API key of the request's one ``Authorization`` header. Two or more are a
    :class:`BadRequest` (RFC 9110: a singleton field), never one of them picked: a proxy
    appending its own header must not decide which credentials count."""
    found = request.headers.getlist("authorization")
    if len(found) > 1:
        raise BadRequest(f"{len(found)} Authorization headers: send exactly one")
    scheme, _, key = (found[0] if found else "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError("missing API key (Authorization: Bearer hk_...)")
    return key.strip()


async def authenticate(request: Request) -> Actor:
    """The actor of the request's API key, checked once per request (kept in the
    request's state); :class:`AuthenticationError` (401) if it is missing or invalid."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        key = _bearer_key(request)
        actor = await run_in_threadpool(get_context(request).keys.authenticate, key)
        request.state.actor = actor
    return actor


async def current_actor(
    request: Request,
    _creds: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> Actor:
    """The authenticated actor; 401 problem if the key is missing or invalid. Routes
    authenticate before reading the body (:mod:`hub.api.limits`): this finds the actor
    already checked. ``_creds`` declares the scheme in the OpenAPI document."""
    return await authenticate(request)
