"""``hub dlq list|show|replay``: see and replay the dead letters of hub.dlq.

Never prints a letter's payload unless asked (``show --payload``): it may hold personal
data. Reason codes and messages are safe by contract (DeadLetter.message).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import click

from hub.core.settings import get_settings


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(letter: Any) -> str:
    b = letter.body
    key = "-" if letter.key is None else letter.key.decode(errors="replace")
    state = ""
    if letter.replayed is not None:
        r = letter.replayed
        state = f" replayed->{r['topic']}/{r['partition']}@{r['offset']}"
    if letter.duplicate_of is not None:
        state += f" duplicate-of={letter.duplicate_of}"
    return (
        f"{letter.ref:>8} {b['reason']:<22} key={key} "
        f"from={b['sourceTopic']}/{b['sourcePartition']}@{b['sourceOffset']} "
        f"attempts={b['attempts']} failed={_when(b['failedAt'])}{state}"
    )


def _ref(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A letter's position as ``PARTITION:OFFSET`` (two whole numbers), written as the
    letter's ``ref`` is (``0:042`` is ``0:42``); anything else is a usage error, before
    Kafka is read."""
    if value is None:
        return None
    m = re.fullmatch(r"([0-9]+):([0-9]+)", value.strip())
    if m is None:
        raise click.BadParameter(
            f"{value!r} is not PARTITION:OFFSET, e.g. 0:42 (the first column of 'hub dlq list')",
            ctx=ctx, param=param,
        )  # fmt: skip
    return f"{int(m[1])}:{int(m[2])}"


def _letters() -> list[Any]:
    from hub.services.dlq import read_letters

    return asyncio.run(read_letters(get_settings()))


@click.group()
def dlq() -> None:
    """Dead letters (hub.dlq): counts by reason, one letter, replay after a fix."""


@dlq.command("list")
@click.option("--reason", help="Only letters with this reason code.")
@click.option("--pending", is_flag=True, help="Only letters not replayed yet.")
@click.option("--quiet", "-q", is_flag=True, help="Counts only, no line per letter.")
def list_(reason: str | None, pending: bool, quiet: bool) -> None:
    """Counts by reason (total / not replayed yet), then one line per letter."""
    letters = _letters()
    totals = Counter(x.reason for x in letters)
    waiting = Counter(x.reason for x in letters if x.replayed is None and x.duplicate_of is None)
    dups = sum(x.duplicate_of is not None for x in letters)
    click.echo(
        f"{len(letters)} dead letters ({dups} duplicates), {sum(waiting.values())} to replay"
    )
    for r, n in totals.most_common():
        click.echo(f"  {r:<22} {n:>6} total {waiting[r]:>6} pending")
    if quiet:
        return
    for x in letters:
        if (reason is None or x.reason == reason) and not (pending and x.replayed is not None):
            click.echo(_line(x))


@dlq.command()
@click.argument("ref", metavar="PARTITION:OFFSET", callback=_ref)
@click.option(
    "--payload", is_flag=True, help="Also print the decoded payload (may hold personal data)."
)
def show(ref: str, payload: bool) -> None:
    """One letter by its position in hub.dlq, PARTITION:OFFSET (e.g. 0:42, the first column
    of 'hub dlq list')."""
    from hub.services.dlq import select
    from schemas import get_codec

    letter = select(_letters(), ref=ref, again=True)[0]
    b = letter.body
    click.echo(_line(letter))
    click.echo(f"message: {b['message']}")
    for h in b.get("history") or []:
        click.echo(f"earlier: {_when(h['failedAt'])} {h['reason']}: {h['message']}")
    if b["payload"] is None:
        size = b.get("payloadSize")
        click.echo(
            "payload: none (a tombstone)"
            if size is None
            else f"payload: {size} bytes, not kept in the letter (replay reads the source)"
        )
    else:
        click.echo(f"payload: {len(b['payload'])} bytes")
    if payload and b["payload"] is not None:
        try:
            name, body = get_codec().decode(bytes(b["payload"]))
            click.echo(
                json.dumps({"schema": name, "record": body}, ensure_ascii=False, default=str)
            )
        except Exception as exc:  # an undecodable payload is why many letters exist
            click.echo(f"payload does not decode: {exc}")


@dlq.command()
@click.argument("ref", metavar="[PARTITION:OFFSET]", required=False, callback=_ref)
@click.option("--reason", help="Replay every letter with this reason code.")
@click.option("--key", "key", help="Replay the letters of this key (numéro unique), in order.")
@click.option("--all", "every", is_flag=True, help="Replay every letter not replayed yet.")
@click.option("--again", is_flag=True, help="Include letters already replayed.")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed.")
def replay(
    ref: str | None, reason: str | None, key: str | None, every: bool, again: bool, dry_run: bool
) -> None:
    """Republish letters to their source topic (same key, so same partition), in order."""
    from hub.services.dlq import replay as do_replay
    from hub.services.dlq import select

    chosen = select(_letters(), ref=ref, reason=reason, key=key, every=every, again=again)
    if dry_run:
        for x in chosen:
            click.echo(f"would replay {_line(x)}")
        click.echo(f"{len(chosen)} letters would be replayed")
        return
    done = asyncio.run(do_replay(get_settings(), chosen))
    for letter, where in done:
        click.echo(f"replayed {letter.ref} ({letter.reason}) -> {where}")
    click.echo(f"{len(done)} letters replayed")
