"""``hub feed ACTOR``: print an actor's feed, decoded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import click

from hub.core import topics
from hub.core.errors import ConfigError, DecodeError
from hub.core.settings import HubSettings, get_settings
from hub.services.feeds import read_feed

#: the API of the local stack's registry (``hub stack up --with-registry``)
REGISTRY_EXAMPLE = "http://127.0.0.1:28081/apis/ccompat/v7"


def unknown_schema(exc: DecodeError, actor_id: str, settings: HubSettings) -> ConfigError:
    """What to say for a feed record framed with a schema registry id this process cannot
    resolve: without ``HUB_REGISTRY__URL``, that the feed is in the registry's (Confluent)
    wire format and the setting must point at the registry; with it, that the registry
    does not hold that id as a FeedRecord schema."""
    topic = topics.feed_topic(actor_id)
    url = settings.registry.url.strip()
    if not url:
        return ConfigError(
            f"{topic} holds records in the schema registry's (Confluent) wire format "
            f"({exc.message}): set HUB_REGISTRY__URL to the registry's Confluent-compatible "
            f"API (e.g. {REGISTRY_EXAMPLE}) to read them",
            code=exc.code,
        )
    return ConfigError(
        f"{topic}: {exc.message}: the registry at {url} (HUB_REGISTRY__URL) does not hold "
        "it as a FeedRecord schema (is it the registry the feed was written with?)",
        code=exc.code,
    )


def _line(rec: dict[str, Any]) -> str:
    """One record on one line (``wc -l`` counts records) within 80 columns: offset, kind,
    numéro unique, operation, version, reason (when there is one), first wished commune and
    how many more (``--format json`` holds everything)."""
    where = ""
    lr = ((rec.get("demande") or {}).get("demandeLogement") or {}).get("logementRecherche") or {}
    locs = [loc["commune"] for loc in lr.get("listeLocalisationSouhaite") or []]
    if locs:  # the whole list made one line in two wider than 80 columns
        where = f" {locs[0]}" + (f"+{len(locs) - 1}" if len(locs) > 1 else "")
    reason = f" {rec['reason']}" if rec.get("reason") else ""
    return (
        f"{rec['_offset']:>7} {rec['kind']:<9} {rec['numUnique']} {rec['operation']} "
        f"v{rec['demandeVersion']}{reason}{where}"
    )


@click.command()
@click.argument("actor_id")
@click.option("--from-beginning", is_flag=True, help="Start at the first record, not at new ones.")
@click.option(
    "-e",
    "--exit-at-end",
    is_flag=True,
    help="Stop at the end of the feed as of the start (as kcat -e), instead of waiting.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N records.")
@click.option("--idle-timeout", type=float, help="Stop when nothing arrives for S seconds.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def feed(
    actor_id: str,
    from_beginning: bool,
    exit_at_end: bool,
    limit: int | None,
    idle_timeout: float | None,
    fmt: str,
) -> None:
    """Print ACTOR_ID's feed: one line per record (offset, kind, numéro unique, operation,
    version, reason, first wished commune and how many more); --format json: the whole
    record, one JSON object per line.

    Records go to stdout; on stderr, what the command waits for (without -e), or with -e
    how many records it printed when it reached the end."""
    stop = (
        "Ctrl-C to stop"
        if idle_timeout is None
        else f"stopping after {idle_timeout:g} s without one"
    )

    def waiting(topic: str) -> None:
        if from_beginning:
            hint = f"end of {topic} reached; waiting for new records ({stop})"
        else:
            hint = f"waiting for new records on {topic} ({stop}; --from-beginning to read the past)"
        click.echo(hint, err=True)

    settings = get_settings()
    printed = 0

    async def run() -> None:
        nonlocal printed
        async for rec in read_feed(
            settings,
            actor_id,
            from_beginning=from_beginning,
            limit=limit,
            idle_timeout_s=idle_timeout,
            exit_at_end=exit_at_end,
            on_caught_up=waiting,
        ):
            if fmt == "json":
                rec.pop("_offset", None)
                click.echo(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
            else:
                click.echo(_line(rec))
            printed += 1

    finished = False
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(run())
            finished = True
        except DecodeError as exc:
            if exc.code != "unknown_schema":
                raise
            raise unknown_schema(exc, actor_id, settings) from None
    if finished and exit_at_end and (limit is None or printed < limit):
        click.echo(f"end of {topics.feed_topic(actor_id)} reached: {printed:,} record(s)", err=True)
