"""``hub dlq list|show|replay``: see and replay the dead letters of hub.dlq.

Never prints a letter's payload unless asked (``show --payload``): it may hold personal
data. Reason codes and messages are safe by contract (DeadLetter.message), but anyone may
write to hub.dlq: every text taken from a record (key, reason, topics, messages, the
decoded payload) is printed with its control characters escaped, as ``hub publish`` does
(:func:`hub.cli.one_line`), so one letter is one line and nothing a record holds
reaches the terminal as a command.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from hub.cli import one_line
from hub.core.errors import InputError
from hub.core.settings import get_settings

if TYPE_CHECKING:
    from hub.services.dlq import Letter


def _when(ms: Any) -> str:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # a record may hold any long
        return f"{ms}ms"


def _text(value: Any, limit: int = 200) -> str:
    """A text taken from a record, on one line (escaped, cut at ``limit``); ``""`` when
    empty, so that a column never vanishes."""
    return one_line(str(value), limit) or '""'


def _key(letter: Letter) -> str:
    return "-" if letter.key is None else _text(letter.key.decode(errors="replace"), 100)


def _line(letter: Letter) -> str:
    if letter.unreadable is not None:
        return (f"{letter.ref:>8} {'unreadable':<22} key={_key(letter)} "
                f"({_text(letter.unreadable)})")  # fmt: skip
    b = letter.body
    state = ""
    if letter.replayed is not None:
        r = letter.replayed
        state = f" replayed->{_text(r['topic'])}/{r['partition']}@{r['offset']}"
    if letter.duplicate_of is not None:
        state += f" duplicate-of={letter.duplicate_of}"
    return (
        f"{letter.ref:>8} {_text(b['reason'], 60):<22} key={_key(letter)} "
        f"from={_text(b['sourceTopic'], 100)}/{b['sourcePartition']}@{b['sourceOffset']} "
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


def _letters() -> list[Letter]:
    from hub.services.dlq import read_letters

    return asyncio.run(read_letters(get_settings()))


@click.group()
def dlq() -> None:
    """Dead letters (hub.dlq): counts by reason, one letter, replay after a fix."""


@dlq.command("list")
@click.option("--reason", help="Only letters with this reason code.")
@click.option("--pending", is_flag=True, help="Only letters still to replay.")
@click.option("--quiet", "-q", is_flag=True, help="Counts only, no line per letter.")
def list_(reason: str | None, pending: bool, quiet: bool) -> None:
    """Counts by reason (total / still to replay / never replayable), then one line per
    letter. A record of hub.dlq that is no readable letter is listed as 'unreadable'."""
    letters = _letters()
    totals = Counter(x.reason for x in letters)
    waiting = Counter(x.reason for x in letters if x.pending)
    never = Counter(x.reason for x in letters if x.unreplayable is not None)
    dups = sum(x.duplicate_of is not None for x in letters)
    click.echo(f"{len(letters)} dead letters ({dups} duplicates, {sum(never.values())} "
               f"unreplayable), {sum(waiting.values())} to replay")  # fmt: skip
    for r, n in totals.most_common():
        click.echo(f"  {_text(r, 60):<22} {n:>6} total {waiting[r]:>6} pending "
                   f"{never[r]:>6} unreplayable")  # fmt: skip
    if quiet:
        return
    for x in letters:
        if (reason is None or x.reason == reason) and not (pending and not x.pending):
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
    click.echo(_line(letter))
    if letter.unreadable is not None:
        click.echo("not a readable dead letter: nothing else to show, nothing to replay")
        return
    b = letter.body
    click.echo(f"message: {_text(b['message'], 5000)}")
    for h in b.get("history") or []:
        click.echo(f"earlier: {_when(h['failedAt'])} {_text(h['reason'], 60)}: "
                   f"{_text(h['message'], 5000)}")  # fmt: skip
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
            text = json.dumps({"schema": name, "record": body}, ensure_ascii=False, default=str)
        except Exception as exc:  # an undecodable payload is why many letters exist
            text = f"payload does not decode: {exc}"
        click.echo(one_line(text, len(text) * 10 + 1))  # escaped, never cut


@dlq.command()
@click.argument("ref", metavar="[PARTITION:OFFSET]", required=False, callback=_ref)
@click.option(
    "--reason", help="Replay every letter with this reason code (with P:O: only if it has it)."
)
@click.option(
    "--key",
    "key",
    help="Replay the letters of this key (numéro unique), in order (with P:O: only if it has it).",
)
@click.option("--all", "every", is_flag=True, help="Replay every letter not replayed yet.")
@click.option("--again", is_flag=True, help="Include letters already replayed.")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed.")
def replay(
    ref: str | None, reason: str | None, key: str | None, every: bool, again: bool, dry_run: bool
) -> None:
    """Republish letters to their source topic (same key, so same partition), in order.
    Letters that can never be replayed (a tombstone, a source that is not an input topic,
    an unreadable record) are passed over, one line each; named alone, one is an error."""
    from hub.services.dlq import replay as do_replay
    from hub.services.dlq import replayable, select

    chosen = select(_letters(), ref=ref, reason=reason, key=key, every=every, again=again)
    ready, never = replayable(chosen)
    if ref is not None and never:
        raise InputError(one_line(f"letter {ref} {never[0].unreplayable}"), code="not_replayable")
    for x in never:
        click.echo(f"skipped {x.ref} ({_text(x.reason, 60)}): {_text(x.unreplayable, 300)}")
    skipped = f", {len(never)} skipped (never replayable)" if never else ""
    if dry_run:
        for x in ready:
            click.echo(f"would replay {_line(x)}")
        click.echo(f"{len(ready)} letters would be replayed{skipped}")
        return
    done = asyncio.run(do_replay(get_settings(), ready))
    for letter, where in done:
        click.echo(f"replayed {letter.ref} ({_text(letter.reason, 60)}) -> {where}")
    click.echo(f"{len(done)} letters replayed{skipped}")
