"""A push receiver that misbehaves on purpose, for the bounds of the push channels'
requests (independent audit F, points 2 and 5; the auditor's rig was
/tmp/audit-f/repro/receiver.py): a raw HTTP/1.1 server on the loopback (asyncio, in a
thread of its own), answering each path by its :class:`Mode`:

* plain: a status and a body at once (keep-alive: the client may reuse the connection);
* ``trickle_s``: the status and headers at once (``Content-Length`` ``declared``), then one
  byte of body every ``trickle_s`` seconds, until the client hangs up;
* ``big``: the status and headers at once, then ``big`` bytes of body as fast as the
  client reads them (``gzip``: the headers say ``Content-Encoding: gzip``);
* ``hang``: the request is read, nothing is ever answered.

A path may have a list of modes instead: one per request, in order, the last one for
every request after. The modes may be changed while the receiver runs.

``requests``: (path, headers, body) of every request, in order; ``sent``: body bytes
written per path (what the kernel took, not what the client read: for that, a client on
:class:`CountingTransport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx

CHUNK = b"a" * (64 << 10)


@dataclass(frozen=True)
class Mode:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    trickle_s: float | None = None
    declared: int = 100_000
    big: int = 0
    gzip: bool = False
    hang: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class HostileReceiver:
    def __init__(self, modes: dict[str, Mode | list[Mode]]) -> None:
        self.modes = modes
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.sent: dict[str, int] = {}
        self.base = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    def paths(self) -> list[str]:
        return [path for path, _h, _b in self.requests]

    # the server's thread
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        port = self._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one request after another on the connection
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((path, headers, body))
                mode = self._mode(path)
                if not await self._answer(mode, path, reader, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # the receiver stops
            pass
        finally:
            writer.close()

    def _mode(self, path: str) -> Mode:
        mode = self.modes.get(path, Mode(404))
        if not isinstance(mode, list):
            return mode
        return mode.pop(0) if len(mode) > 1 else mode[0]

    async def _answer(
        self, mode: Mode, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False: the connection is done with."""
        if mode.hang:
            while await reader.read(1 << 16):  # until the client hangs up
                pass
            return False
        length = mode.declared if mode.trickle_s else mode.big or len(mode.body)
        extra = {"content-type": mode.content_type, **mode.headers}
        if mode.gzip:
            extra["content-encoding"] = "gzip"
        head = f"HTTP/1.1 {mode.status} X\r\ncontent-length: {length}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n"
        writer.write(head.encode())
        await writer.drain()
        if mode.trickle_s:
            for _ in range(mode.declared):
                writer.write(b"x")
                await writer.drain()
                self.sent[path] = self.sent.get(path, 0) + 1
                await asyncio.sleep(mode.trickle_s)
            return True
        if mode.big:
            left = mode.big
            while left > 0:
                piece = CHUNK[: min(left, len(CHUNK))]
                writer.write(piece)
                await writer.drain()
                self.sent[path] = self.sent.get(path, 0) + len(piece)
                left -= len(piece)
            return True
        writer.write(mode.body)
        await writer.drain()
        return True

    def __enter__(self) -> HostileReceiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the hostile receiver did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def hostile_receiver(modes: dict[str, Mode | list[Mode]]) -> Iterator[HostileReceiver]:
    with HostileReceiver(modes) as receiver:
        yield receiver


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, counting the bytes of answer bodies the client pulled
    (``read``): what the client actually read, whatever the kernel's buffers took."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.read = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        response.stream = _Counted(response.stream, self)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Counted(httpx.AsyncByteStream):
    def __init__(
        self, stream: httpx.AsyncByteStream | httpx.SyncByteStream, counter: CountingTransport
    ) -> None:
        assert isinstance(stream, httpx.AsyncByteStream)
        self.stream, self.counter = stream, counter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            self.counter.read += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self.stream.aclose()
