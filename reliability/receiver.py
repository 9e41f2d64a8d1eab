"""A local webhook receiver for the delivery fault runs: records every POST it gets.

It serves ``POST /hook/<actor id>`` on 127.0.0.1 (uvicorn in a thread of the harness),
answers 204, and keeps, per actor and in arrival order, the decoded JSON body, whether
its ``X-Passerelle-Signature`` and ``X-Passerelle-Signature-V2`` are the HMACs the actor
would compute with its key (:func:`connectors.outbound.webhook.actor_key`), the V2's
timestamp within the 5 minutes docs/api.md tells receivers to allow, and when it arrived.
:meth:`stop` closes the listening socket, so a stopped receiver refuses connections (a
receiver that is down); :meth:`start` serves again on the same port.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.outbound.webhook import actor_key, sign, sign_v2
from hub.core.errors import TransientError


@dataclass(slots=True)
class Received:
    """What one actor's endpoint got, in arrival order."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    #: monotonic arrival time of each body
    times: list[float] = field(default_factory=list)
    bad_signatures: int = 0
    #: bodies whose X-Passerelle-Event-Id header differs from the body's eventId
    bad_event_ids: int = 0


class Receiver:
    """See the module doc. ``secret`` is the hub's master webhook secret."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.secret = secret
        self.got: dict[str, Received] = {}
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def url(self, actor_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{actor_id}"

    async def _hook(self, request: Request) -> Response:
        actor_id = request.path_params["actor"]
        body = await request.body()
        key = self._keys.setdefault(actor_id, actor_key(self.secret, actor_id))
        h = request.headers
        signed = hmac.compare_digest(h.get("x-passerelle-signature", ""), sign(key, body))
        ts = h.get("x-passerelle-timestamp", "")
        v2 = sign_v2(key, ts, h.get("x-passerelle-event-id", ""), h.get("x-passerelle-offset", ""),
                     body)  # fmt: skip
        signed = (signed and ts.isdigit() and abs(time.time() - int(ts)) <= 300
                  and hmac.compare_digest(h.get("x-passerelle-signature-v2", ""), v2))  # fmt: skip
        record = json.loads(body)
        with self._lock:
            got = self.got.setdefault(actor_id, Received())
            got.bodies.append(record)
            got.times.append(time.monotonic())
            got.bad_signatures += not signed
            got.bad_event_ids += request.headers.get("x-passerelle-event-id") != str(
                record.get("eventId"))
        return Response(status_code=204)

    def start(self, timeout: float = 10) -> None:
        app = Starlette(routes=[Route("/hook/{actor}", self._hook, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise TransientError(f"webhook receiver not listening on {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = self._thread = None

    # -- what arrived ------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            return sum(len(g.bodies) for g in self.got.values())

    def first_after(self, t: float) -> float | None:
        """Monotonic time of the first POST that arrived at or after ``t``."""
        with self._lock:
            after = [x for g in self.got.values() for x in g.times if x >= t]
        return min(after) if after else None

    def span(self) -> float:
        """Seconds from the first POST received to the last."""
        with self._lock:
            times = [x for g in self.got.values() for x in g.times]
        return max(times) - min(times) if times else 0.0

    def feeds(self, actor_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each actor's bodies in arrival order (the shape :func:`checker.check` reads)."""
        with self._lock:
            return {a: list(self.got[a].bodies) if a in self.got else [] for a in actor_ids}

    def signature_faults(self) -> tuple[int, int]:
        """(bad HMAC signatures, event-id headers not matching the body)."""
        with self._lock:
            return (sum(g.bad_signatures for g in self.got.values()),
                    sum(g.bad_event_ids for g in self.got.values()))
