"""``hub status``: one screen for an operator (issue 21 point 5).

Brokers, the worker group's members and their partitions, committed lag per input
partition, DLQ letters by reason, outbox depths per channel, each actor's feed (end
offset, age of the last record), the gestion partagée events not acknowledged by
Kafka and the SOAP gateway's records owed to Kafka (with those Kafka refused), gathered
by :func:`hub.services.status.gather`. ``--json`` prints the same as one JSON document
(:meth:`hub.services.status.Status.as_dict`) for scripts.

Text output fits the terminal's width (80 columns when piped): lines are wrapped between
words, never inside an id, topic or number, so nothing is cut; a single id longer than the
width stays whole on its own line. Exit status 1 when the broker cannot be reached (the
status is printed all the same), else 0; parts that could not be read are listed under
"Problems" and shown as ``unknown`` (``null`` in the JSON document, with the totals
computed from them): never as 0 or empty. ``--actor`` with an id the registry does not
know is an error (exit 1) before anything is read.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
from collections.abc import Callable

import click

from hub.core.settings import get_settings
from hub.services.status import Status, gather


def age(seconds: float | None) -> str:
    """``seconds`` as a short age: ``12 s``, ``3 min``, ``5 h``, ``2 d``; ``-`` for None."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


#: what a part that could not be read shows (its line under "Problems" says why)
UNKNOWN = "unknown"


def render(status: Status, width: int) -> list[str]:
    """The text lines of ``status`` for a terminal ``width`` columns wide (module doc)."""
    out: list[str] = []

    def put(text: str, indent: int = 0, more: int = 4) -> None:
        pad = " " * indent
        out.extend(textwrap.wrap(text, width=max(width, 20), initial_indent=pad,
                                 subsequent_indent=pad + " " * more, break_long_words=False,
                                 break_on_hyphens=False) or [pad])  # fmt: skip

    b = status.brokers  # ids stand alone between spaces: a double-click copies them whole
    put(f"Brokers {b.bootstrap} " + (
        f"reachable cluster {b.cluster_id} controller {b.controller}" if b.reachable
        else "NOT REACHABLE"))  # fmt: skip
    for node in b.nodes:
        put(f"node {node}", 2)
    unread = status.members is None  # the group could not be described
    members = UNKNOWN if status.members is None else len(status.members)
    put(f"Worker group {status.group} state {status.group_state or UNKNOWN} "
        f"protocol {status.group_protocol or (UNKNOWN if unread else 'none')} "
        f"members {members}")  # fmt: skip
    for m in status.members or ():
        worker = f"worker {m.worker_url} " if m.worker_url else ""
        if m.health is not None and m.health != "ok":  # listed by Kafka, gone or stuck here
            worker += f"health {m.health.upper()} "
        elif m.health == "ok":
            worker += "health ok "
        put(f"{worker}{m.client_id} host {m.host} member {m.member_id}", 2)
        put("partitions " + (" ".join(m.partitions) or "none"), 4)
    total = status.total_lag
    put("Lag total " + (UNKNOWN if total is None else f"{total:,} (end - committed)"))
    for p in status.lag or ():
        committed = "none" if p.committed is None else f"{p.committed:,}"
        put(f"{p.topic}:{p.partition} committed {committed} end {p.end:,} lag {p.lag:,} "
            f"reader {p.owner or 'nobody'}", 2)  # fmt: skip
    if status.dlq is None:
        put(f"DLQ letters {UNKNOWN}")
    else:
        letters = sum(v["letters"] for v in status.dlq.values())
        pending = sum(v["pending"] for v in status.dlq.values())
        put(f"DLQ letters {letters:,} pending {pending:,}")
        for reason, n in status.dlq.items():
            put(f"{reason} letters {n['letters']:,} pending {n['pending']:,}", 2)
    depths = status.as_dict()["outbox_depths"]
    shown = None if depths is None else " ".join(f"{c} {d:,}" for c, d in sorted(depths.items()))
    put("Outboxes " + (UNKNOWN if shown is None else shown or "empty"))
    for o in status.outboxes or ():
        waiting = f" of which {o.not_copied:,} not copied from the feed" if o.not_copied else ""
        if o.closed_with_error:
            waiting += f"; {o.closed_with_error:,} closed with an error (hub deliver's log)"
        put(f"{o.channel} {o.actor} depth {o.depth:,}{waiting}", 2)
    put("Feeds " + (UNKNOWN if status.feeds is None else str(len(status.feeds))))
    for f in status.feeds or ():
        put(
            f"{f.actor} end {f.end_offset:,} last record {age(f.age_s)} ago"
            if f.last_at_ms is not None
            else f"{f.actor} end {f.end_offset:,} empty",
            2,
        )
    owed = status.gp_unpublished
    put("Gestion partagée events not acknowledged by Kafka " + (
        UNKNOWN if owed is None else f"{owed:,}" + (
            f" oldest {age(status.gp_unpublished_age_s)} ago (hub api publishes them)"
            if owed else "")))  # fmt: skip
    gateway(status, put)
    if status.problems:
        put("Problems")
        for problem in status.problems:
            put(problem, 2)
    return out


def gateway(status: Status, put: Callable[..., None]) -> None:
    """The SOAP gateway's records owed to Kafka, and those Kafka refused, one line each."""
    owed, refused = status.gateway_unpublished, status.gateway_refused
    put("SOAP gateway records not acknowledged by Kafka " + (
        UNKNOWN if owed is None else f"{owed:,}" + (
            f" oldest {age(status.gateway_unpublished_age_s)} ago (hub soap-gateway "
            "publishes them)" if owed else "")) + (
        f"; refused by Kafka {refused:,} (set aside, tried again at the gateway's next "
        "start)" if refused else ""))  # fmt: skip
    now = status.generated_at_ms
    for r in status.gateway_refused_records or ():
        put(f"{r.topic} {r.num_unique} event {r.event_id} {r.size_bytes:,} bytes refused "
            f"{age(max(0, now - r.refused_at_ms) / 1000)} ago: {r.error}", 2)  # fmt: skip
    shown = len(status.gateway_refused_records or ())
    if refused and refused > shown:
        put(f"and {refused - shown:,} more (hub status --json lists {shown:,})", 2)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
@click.option(
    "--group",
    default=None,
    help="Consumer group of the workers (default: the worker.app_id setting).",
)
@click.option(
    "--actor", "actors", multiple=True, help="Only this actor's feed and outbox (repeatable)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 300),
    default=10.0,
    show_default=True,
    help="Seconds each part may take.",
)
def status(as_json: bool, group: str | None, actors: tuple[str, ...], timeout: float) -> None:
    """Brokers, worker group, lag, DLQ, outboxes and feeds on one screen.

    A part that could not be read (see Problems) shows as "unknown"; in --json it is null,
    and so are the totals computed from it (total_lag, dlq_letters, dlq_pending,
    outbox_depths). Exit 1 when the broker cannot be reached (the status is printed all
    the same), or when an --actor is not in the registry."""
    if group is not None and not group.strip():
        raise click.UsageError("--group must name a consumer group (omit it for the workers')")
    found = asyncio.run(gather(get_settings(), group=group, actors=actors, timeout_s=timeout))
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2, ensure_ascii=False))
    else:
        width = shutil.get_terminal_size((80, 24)).columns
        click.echo("\n".join(render(found, width)))
    if not found.brokers.reachable:
        raise SystemExit(1)
