"""A seeded mutation fuzzer over the corpus (fast enough for 100,000 inputs per target).

Mutations: bit flips, byte overwrites, insertions, deletions, duplicated ranges, splices
of two corpus files, truncation, and *hostile lengths*: Avro varints declaring huge
counts (50 million items, 2**62 bytes) planted anywhere. Each input is checked for:
an exception outside the accepted family (a crash), a call above ``slow_s`` (a hang),
and, at the end, peak traced memory above ``max_mb``.
"""

from __future__ import annotations

import contextlib
import random
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.targets import ACCEPTED_ERRORS, Target


def zigzag(n: int) -> bytes:
    """Avro long encoding of ``n`` (zig-zag varint)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


HOSTILE = [zigzag(50_000_000), zigzag(-50_000_000), zigzag(2**62), zigzag(-1), b"\xff" * 10,
           b"\x00", b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;", b"<a>" * 100]  # fmt: skip


def load_corpus(target: Target) -> list[bytes]:
    files = sorted(p for p in target.corpus.glob("*") if p.is_file())
    return [p.read_bytes() for p in files] or [b""]


def mutate(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 6))):
        op = rng.randrange(8)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and buf:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 4 and buf:
            start = rng.randrange(len(buf))
            buf[pos:pos] = buf[start : start + rng.randint(1, 64)]
        elif op == 5:
            other = rng.choice(corpus)
            cut = rng.randrange(len(other) + 1)
            buf = buf[:pos] + other[cut:]
        elif op == 6:
            buf[pos:pos] = rng.choice(HOSTILE)
        else:
            del buf[pos:]
    return bytes(buf)


@dataclass(slots=True)
class Outcome:
    target: str
    inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    slowest_s: float = 0.0
    peak_mb: float = 0.0
    #: (exception type, message head, input) of each finding
    crashes: list[tuple[str, str, bytes]] = field(default_factory=list)
    hangs: list[bytes] = field(default_factory=list)


def fuzz(target: Target, n: int, seed: int, *, slow_s: float = 2.0,
         trace_memory: bool = True, save_to: Path | None = None) -> Outcome:  # fmt: skip
    """Feed ``n`` inputs (the corpus itself first, then mutants) to ``target``."""
    rng = random.Random(seed)
    corpus = load_corpus(target)
    out = Outcome(target.name)
    with contextlib.suppress(Exception):  # warm-up outside the clock (schemas, XSD load)
        target.run(corpus[0])
    if trace_memory:
        tracemalloc.start()
    try:
        for i in range(n):
            data = corpus[i] if i < len(corpus) else mutate(rng.choice(corpus), rng, corpus)
            t0 = time.perf_counter()
            try:
                target.run(data)
                out.accepted += 1
            except ACCEPTED_ERRORS:
                out.rejected += 1
            except target.pre_errors:
                out.rejected += 1
            except Exception as exc:  # a finding: keep the input to replay it
                out.crashes.append((type(exc).__name__, str(exc)[:200], data))
                if save_to is not None:
                    save_to.mkdir(parents=True, exist_ok=True)
                    (save_to / f"crash-{target.name}-{seed}-{i}.bin").write_bytes(data)
            took = time.perf_counter() - t0
            out.slowest_s = max(out.slowest_s, took)
            if took > slow_s:
                out.hangs.append(data)
            out.inputs += 1
    finally:
        if trace_memory:
            out.peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
    return out
