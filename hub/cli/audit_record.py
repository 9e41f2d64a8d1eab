"""``hub audit record``: audit the deliveries made on the Kafka feeds (hub.stores.audit.recorder);
``hub audit verify``: check the audit hash chain (hub.stores.audit.chain)."""

from __future__ import annotations

import asyncio

import click

from hub.cli.api import _settings, audit
from hub.core.db import make_engine, migrate
from monitoring.serve import metrics_port_option, serve_metrics


@audit.command("record")
@click.option(
    "--once", is_flag=True, help="Read every feed to its current end, record, commit, then exit."
)
@click.option(
    "--group",
    default="passerelle-audit",
    show_default=True,
    help="Kafka consumer group (its committed offsets are the progress).",
)
@click.option(
    "--pattern",
    default=r"^hub\.feed\..+$",
    show_default=True,
    help="Regular expression of the feed topics to read.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=300.0,
    show_default=True,
    help="With --once: give up (exit 1) if the end is not reached in time.",
)
@metrics_port_option
def record(
    once: bool, group: str, pattern: str, timeout_s: float, metrics_port: int | None
) -> None:
    """Record every delivery of personal data on the hub.feed.* topics (channel kafka)."""
    from hub.stores.audit.recorder import AuditRecorder

    settings = _settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    # passerelle_audit_feeds_stopped among them (alert PasserelleAuditFeedStopped)
    serve_metrics(metrics_port, settings.monitoring.web_host, "audit record")

    async def go() -> None:
        recorder = AuditRecorder(settings, engine, group=group, pattern=pattern)
        try:
            # in the try: a start that fails (no broker) leaves a consumer to close
            await recorder.start()
            stats = await recorder.run(once=once, timeout_s=timeout_s)
        finally:
            await recorder.stop()
        click.echo(
            f"{stats.read} feed record(s) read, {stats.recorded} delivery(ies) "
            f"recorded, {stats.dead_lettered} dead-lettered"
        )

    asyncio.run(go())


@audit.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="HASH",
    help="A head printed by an earlier run: it must still be in the chain "
    "(detects rows cut from the end). Repeatable.",
)
def verify(anchors: tuple[str, ...]) -> None:
    """Check that no audit row was modified, deleted, inserted or moved: one line per
    broken link and exit 1, or "audit chain intact: N rows" and exit 0."""
    from hub.stores.audit.chain import verify as verify_chain

    settings = _settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    report = verify_chain(engine, anchors=anchors)
    for problem in report.problems:
        click.echo(problem)
    if not report.intact:
        raise click.exceptions.Exit(1)
    click.echo(f"audit chain intact: {report.rows} rows (head {report.head})")
