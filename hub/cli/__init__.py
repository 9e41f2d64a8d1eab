"""The ``hub`` command line. Errors for a person are one line and a non-zero exit."""

from __future__ import annotations

import logging
from typing import Any

import click

from hub.core.errors import HubError


class HubGroup(click.Group):
    """Turns every :class:`HubError` into a one-line message (no traceback), exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubError as exc:
            raise click.ClickException(exc.message) from None


@click.group(cls=HubGroup)
@click.version_option(package_name="passerelle", prog_name="hub")
@click.option("-v", "--verbose", count=True, help="More logs (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Passerelle: dispatch social-housing demands to every actor of their territory."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        # The Kafka client warns about retries it then resolves (a new broker electing
        # leaders): noise for a person; -v shows it.
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
    from hub.core.schema_registry import install_resolver

    install_resolver()  # feed records in the Confluent wire format: ids read when first met


def _register() -> None:
    from hub.cli.actor_kafka import kafka_config as _kafka_config  # noqa: F401 (actors)
    from hub.cli.actors import actors
    from hub.cli.api import COMMANDS as api_commands
    from hub.cli.audit_record import record as _audit_record  # noqa: F401 (hub audit record)
    from hub.cli.clock import clock
    from hub.cli.demo import demo
    from hub.cli.dlq import dlq
    from hub.cli.feed import feed
    from hub.cli.files import files
    from hub.cli.gp import gp
    from hub.cli.publish import publish
    from hub.cli.purge import purge
    from hub.cli.sne import sne_poll, sne_simulator, soap_gateway
    from hub.cli.stack import stack
    from hub.cli.stats import stats
    from hub.cli.status import status
    from hub.cli.worker import worker

    for command in (
        stack,
        actors,
        publish,
        feed,
        worker,
        demo,
        files,
        *api_commands,
        sne_simulator,
        soap_gateway,
        sne_poll,
        dlq,
        purge,
        gp,
        status,
        clock,
        stats,
    ):
        main.add_command(command)


_register()
