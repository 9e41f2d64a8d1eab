"""One request of a push channel, bounded in time and in bytes (independent audit F, points
2 and 5).

httpx's ``timeout`` bounds each *operation* (connecting, each read, each write, waiting
for a pooled connection), not the exchange: a receiver answering its headers at once and
then one byte of body every 2 s kept its actor's request open for ever, without a line in
the log (F2). And ``client.post`` reads the whole answer into memory: a receiver answering
500 with a 1.5 GB body made ``hub deliver``, which serves every push actor, read it whole
on every retry (F5). :func:`post` bounds both:

* **one deadline** (``deadline_s``, ``api.webhook_timeout_s``) for the whole exchange:
  connecting, sending the body, then the status, the headers and the body of the answer.
  Past it the connection is closed. Waiting for one of the channel's request slots
  (``gate``) comes before the exchange and is not counted;
* **a cap on the answer** (``max_bytes``, ``api.delivery_answer_max_bytes``): the body is
  streamed and counted as it arrives; once it passes the cap the connection is closed and
  the rest is never read (at most one network read, 64 kB, past the cap). The hub asks for
  an uncompressed answer (``Accept-Encoding: identity``); a receiver compressing anyway
  (``gzip``, ``deflate``) is decompressed under the same cap, any other content coding is
  not read.

What the caller needs of the answer decides what a body not read in full means
(``need_body``):

* ``True`` (SOAP push: a Fault is read from the body, whatever the status): the answer
  could not be read, :class:`DeadlineExceeded` or :class:`AnswerTooLarge`;
* ``False`` (webhook: the status is the answer): the body is read only so that the
  connection can serve the next request; cut at the cap or the deadline, or broken off by
  the receiver, it is dropped with the connection, :attr:`Reply.cut` says why, and the
  status decides. Before the status arrives, the deadline raises
  :class:`DeadlineExceeded` all the same.

Both errors (and :class:`AnswerNotRead`, their base) are httpx transport errors, so that
the channels retry them with their back-off like a refused connection, and retriable
:class:`~hub.core.errors.HubError` (``retriable`` True): the same request may succeed
later. Their message is one line for ``last_error`` and the log.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import httpx

from hub.core.errors import TransientError

__all__ = ["AnswerNotRead", "AnswerTooLarge", "DeadlineExceeded", "Reply", "post"]


class AnswerNotRead(TransientError, httpx.TransportError):
    """The receiver's answer could not be read within the bounds: a transport error,
    retried with the channel's back-off."""

    code = "answer_not_read"


class DeadlineExceeded(AnswerNotRead, httpx.TimeoutException):
    """The exchange did not end within its deadline (counted as a ``timeout``)."""

    code = "deadline_exceeded"


class AnswerTooLarge(AnswerNotRead):
    """The answer's body is larger than the cap (the rest was not read)."""

    code = "answer_too_large"


@dataclass(frozen=True, slots=True)
class Reply:
    """A receiver's answer. ``content``: the body, decoded (``need_body``), else empty;
    ``cut``: why the body was not read in full (``need_body`` False only), else None."""

    status_code: int
    headers: httpx.Headers
    content: bytes = b""
    cut: str | None = None


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    deadline_s: float,
    max_bytes: int,
    need_body: bool = True,
    gate: AbstractAsyncContextManager[Any] | None = None,
) -> Reply:
    """POST ``body`` to ``url`` within ``deadline_s``, reading at most ``max_bytes`` of the
    answer (module doc); ``gate`` (a semaphore of request slots) is entered first."""
    async with gate if gate is not None else nullcontext():
        return await _exchange(client, url, body, headers, deadline_s, max_bytes, need_body)


async def _exchange(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    deadline_s: float,
    max_bytes: int,
    need_body: bool,
) -> Reply:
    sent = httpx.Headers(headers)
    sent.setdefault("accept-encoding", "identity")
    head: httpx.Response | None = None
    kept = bytearray()
    read, cut = 0, None
    try:
        async with asyncio.timeout(deadline_s):  # the whole exchange, connect included
            # each httpx operation gets the whole deadline: the one above ends it first
            async with client.stream(
                "POST", url, content=body, headers=sent, timeout=deadline_s
            ) as response:
                head = response
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > max_bytes:
                        cut = f"larger than {max_bytes} bytes"
                        break  # leaving the stream closes the connection: the rest unread
                    if need_body:
                        kept += chunk
    except (TimeoutError, httpx.TimeoutException) as exc:
        if head is None:
            raise DeadlineExceeded(f"no answer within the {deadline_s:g} s deadline") from exc
        cut = f"not read in full within the {deadline_s:g} s deadline"
        if need_body:
            raise DeadlineExceeded(f"HTTP {head.status_code}, its body {cut}") from exc
    except httpx.TransportError as exc:  # refused, reset, a body broken off...
        if head is None or need_body:
            raise
        cut = f"broken off ({type(exc).__name__})"
    if cut is not None and need_body:
        raise AnswerTooLarge(f"HTTP {head.status_code}, its body {cut}")
    content = _decoded(head, bytes(kept), max_bytes) if need_body else b""
    return Reply(head.status_code, head.headers, content, cut)


def _decoded(head: httpx.Response, raw: bytes, max_bytes: int) -> bytes:
    """``raw`` undone of the answer's content coding, at most ``max_bytes`` of it."""
    coding = head.headers.get("content-encoding", "").strip().lower()
    if coding in ("", "identity"):
        return raw
    if coding in ("gzip", "x-gzip"):
        ways = [16 + zlib.MAX_WBITS]
    elif coding == "deflate":  # zlib-wrapped, as the RFC says, or raw as some servers send
        ways = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        raise AnswerNotRead(
            f"HTTP {head.status_code}, its body in content coding {coding[:40]!r}, "
            "which the hub did not ask for and does not read"
        )
    for wbits in ways:
        inflate = zlib.decompressobj(wbits)
        try:
            out = inflate.decompress(raw, max_bytes + 1)  # never more than the cap + 1
        except zlib.error:
            continue
        if len(out) > max_bytes:
            raise AnswerTooLarge(
                f"HTTP {head.status_code}, its body larger than {max_bytes} bytes "
                f"once decompressed ({coding})"
            )
        return out
    raise AnswerNotRead(f"HTTP {head.status_code}, its body is not valid {coding}")
