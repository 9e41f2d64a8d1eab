"""``hub feed ACTOR``: print an actor's feed, decoded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import click

from hub.core.settings import get_settings
from hub.services.feeds import read_feed


def _line(rec: dict[str, Any]) -> str:
    commune = ""
    lr = ((rec.get("demande") or {}).get("demandeLogement") or {}).get("logementRecherche") or {}
    locs = lr.get("listeLocalisationSouhaite") or []
    if locs:
        commune = f" communes={','.join(loc['commune'] for loc in locs)}"
    reason = f" reason={rec['reason']}" if rec.get("reason") else ""
    return (
        f"{rec['_offset']:>8} {rec['kind']:<9} {rec['numUnique']} {rec['operation']} "
        f"v{rec['demandeVersion']}{reason}{commune}"
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
    """Print ACTOR_ID's feed (one line per record; --format json: one JSON object per line).

    Records go to stdout; what the command waits for goes to stderr (without -e)."""

    def waiting(topic: str) -> None:
        if from_beginning:
            hint = f"end of {topic} reached; waiting for new records (Ctrl-C to stop)"
        else:
            hint = (
                f"waiting for new records on {topic} "
                "(Ctrl-C to stop; --from-beginning to read the past)"
            )
        click.echo(hint, err=True)

    async def run() -> None:
        async for rec in read_feed(
            get_settings(),
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

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
