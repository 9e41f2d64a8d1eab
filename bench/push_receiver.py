"""``python -m bench.push_receiver --port P [--slow NAME --delay S]``: the push benchmark's
receiver, a minimal HTTP/1.1 server (keep-alive, Content-Length bodies) on 127.0.0.1.

``POST /hook/<name>`` answers 204 (after ``--delay`` seconds for the ``--slow`` names) and
counts, per name, the records received (``X-Passerelle-Count``, else 1), the wall-clock
time of the first and last request, and the requests whose ``X-Passerelle-Offset`` is
not the one after the previous request's last record (out of order or duplicated).
``GET /stats`` answers those counts as JSON; ``POST /reset`` forgets them. It prints
``ready`` once listening. Nothing is parsed beyond the request line and headers: the
receiver's own cost stays small next to the deliverer's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

_stats: dict[str, dict[str, Any]] = {}


def _count(name: str, headers: dict[str, str]) -> None:
    now = time.time()
    n = int(headers.get("x-passerelle-count", "1"))
    offset = int(headers.get("x-passerelle-offset", "-1"))
    s = _stats.setdefault(
        name,
        {
            "records": 0,
            "requests": 0,
            "first": now,
            "last": now,
            "next_offset": offset,
            "disorder": 0,
        },
    )
    if offset != s["next_offset"]:
        s["disorder"] += 1
    s["next_offset"] = offset + n
    s["records"] += n
    s["requests"] += 1
    s["last"] = now


async def _handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slow: set[str], delay: float
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            await reader.readexactly(int(headers.get("content-length", "0")))
            body = b""
            status = "204 No Content"
            if method == "POST" and path.startswith("/hook/"):
                name = path[len("/hook/") :]
                if name in slow:
                    await asyncio.sleep(delay)
                _count(name, headers)
            elif path == "/stats":
                body, status = json.dumps(_stats).encode(), "200 OK"
            elif path == "/reset":
                _stats.clear()
            else:
                status = "404 Not Found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
                "Content-Type: application/json\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(port: int, slow: set[str], delay: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, slow, delay), "127.0.0.1", port, backlog=1024
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.push_receiver")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--slow", action="append", default=[])
    p.add_argument("--delay", type=float, default=2.0)
    args = p.parse_args()
    asyncio.run(_serve(args.port, set(args.slow), args.delay))


if __name__ == "__main__":
    main()
