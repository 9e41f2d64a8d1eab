"""``hub demo``: the one-command tour on embedded defaults.

Brings up the local Kafka if none answers, migrates SQLite, registers the Rouen seed
actors, generates realistic demands, runs a worker, and prints for each actor how many
demands it should receive (computed independently here) and how many it received.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.text import Text

from hub.cli.textout import Cell, Col, print_command, print_table
from hub.core.settings import HubSettings, get_settings
from hub.domain.actors import Actor


def _ensure_broker(settings: HubSettings, console: Console) -> None:
    from hub.dev.stack.kafka import KafkaStack, port_answers

    host, _, port = settings.kafka.bootstrap_servers.split(",")[0].rpartition(":")
    if port_answers(int(port), host or "127.0.0.1"):
        return
    if int(port) != settings.stack.kafka_port:
        raise click.ClickException(f"no Kafka answers at {settings.kafka.bootstrap_servers}")
    console.print(
        "[bold]Starting the local Kafka broker[/] (first run fetches jars from Maven Central)…"
    )
    stack = KafkaStack(
        settings.home,
        version=settings.stack.kafka_version,
        port=settings.stack.kafka_port,
        controller_port=settings.stack.controller_port,
        heap=settings.stack.kafka_heap,
    )
    console.print(f"Kafka ready at {stack.up(timeout=120)}")


@click.command()
@click.option("--demandes", "count", default=3000, show_default=True, help="Demands to generate.")
@click.option(
    "--seed",
    type=int,
    help="Seed of the generator (default: a new one each run, since the hub "
    "skips an event id it has already dispatched).",
)
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for dispatch.")
def demo(count: int, seed: int | None, timeout: float) -> None:
    """Run the local demo: stack, actors, demands, dispatch, per-actor counts."""
    from connectors.ingress.publishing import prepare_event, publish_events
    from hub.cli.context import build_actor_service
    from hub.dev.generate import generate_demandes
    from hub.domain.geo import get_geography
    from hub.domain.matching import TerritoryIndex
    from hub.domain.state import wished_communes, wished_typologies
    from hub.services.feeds import count_deliveries, feed_sizes

    console = Console()
    settings = get_settings()
    settings.private_dir(settings.home)
    _ensure_broker(settings, console)

    service = build_actor_service(settings)
    seed_file = resources.files("hub") / "data" / "seed_rouen.yaml"
    with resources.as_file(seed_file) as path:
        report = service.import_file(Path(path))
    console.print(f"Actors: {report}")
    service.republish_all()  # the broker may be new while the SQLite registry is not
    actors = service.store.list()
    geography = get_geography()
    index = TerritoryIndex(geography, actors)

    log_path = settings.home / "demo-worker.log"
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-c", "from hub.cli import main; main()", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        before = asyncio.run(feed_sizes(settings, [a.id for a in actors]))
        expected = dict.fromkeys((a.id for a in actors), 0)
        events = []
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Generating and validating demands", total=count)
            for raw in generate_demandes(
                count,
                seed if seed is not None else time.time_ns(),
                geography=geography,
                departements=["76"],
            ):
                events.append(prepare_event(raw))
                d = raw.get("demande")
                for actor_id in index.match(wished_communes(d), wished_typologies(d)):
                    expected[actor_id] += 1
                progress.advance(task)
        asyncio.run(publish_events(settings, events))
        console.print(f"Published {len(events)} demands to hub.demandes; dispatching…")
        keys = {e.key for e in events}
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Dispatching", total=sum(expected.values()))
            received = asyncio.run(
                count_deliveries(
                    settings,
                    before,
                    keys,
                    expected,
                    timeout_s=timeout,
                    on_progress=lambda n: progress.update(task, completed=n),
                )
            )
        if worker.poll() is not None:
            raise click.ClickException(
                f"the worker stopped (exit {worker.returncode}); see {log_path}"
            )
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    _report(console, actors, expected, received)
    if received != expected:
        raise click.ClickException(
            f"dispatch incomplete after {timeout:.0f}s; worker log: {log_path}"
        )
    print_command(
        console,
        "Every actor received its demands. Read one feed:",
        f"hub feed {actors[0].id} --from-beginning --limit 5",
    )
    print_command(
        console, "Stop the local stack (add --wipe to delete its data):", "hub stack down"
    )


def _report(
    console: Console, actors: list[Actor], expected: dict[str, int], received: dict[str, int]
) -> None:
    """The per-actor table: ids whole at any width (``kind`` left out first when narrow)."""
    rows: list[list[Cell]] = []
    for a in sorted(actors, key=lambda a: -expected[a.id]):
        ok = received[a.id] == expected[a.id]
        rows.append(
            [
                a.id,
                a.kind,
                a.profile,
                str(expected[a.id]),
                Text(str(received[a.id]), style="green" if ok else "red"),
            ]
        )
    print_table(
        console,
        [
            Col("actor"),
            Col("kind", optional=True),
            Col("profile"),
            Col("expected", justify="right"),
            Col("received", justify="right"),
        ],
        rows,
        title="Demands per actor",
    )
