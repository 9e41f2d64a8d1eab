"""The ``hub`` command line. Errors for a person are one line and a non-zero exit:

* a :class:`~hub.core.errors.HubError` is its message;
* a Kafka broker that does not answer (:class:`~hub.core.errors.KafkaUnavailableError`,
  or aiokafka's ``KafkaConnectionError`` from any client) is
  :func:`hub.core.kafka.client.unavailable_message`: where Kafka was looked for and how
  to start it, whichever command met it;
* a closed stdout (``hub feed ... | head``) ends the command quietly with exit 0, as Unix
  tools do;
* Ctrl-C that a command does not handle itself ends it with exit 130, as shells expect
  after SIGINT (``hub feed`` stops with 0: Ctrl-C is how one stops following a feed).

Without ``-v`` the Kafka client's own log lines about connections it could not make are
dropped (:class:`hub.core.kafka.client.ConnectionNoise`): the command says it once. At any
``-v``, no line shows a URL's query or userinfo (:mod:`hub.core.log_urls`: httpx and
httpcore kept at WARNING, every line the CLI's handler writes redacted).

Help is plain text: the reST literals of a command's docstring (````hub audit record````)
show as ``'hub audit record'`` (:func:`plain_help`, applied to every command).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from hub.core.errors import HubError, KafkaUnavailableError


def _bootstrap_servers() -> str:
    """The configured bootstrap servers, or a placeholder when the settings themselves
    cannot be read (that error is not the one being reported)."""
    from hub.core.settings import get_settings

    try:
        return get_settings().kafka.bootstrap_servers
    except Exception:  # a broken setting: say what is known, the next command says why
        return "the configured bootstrap servers"


def _kafka_unreachable(exc: BaseException) -> str | None:
    """The one-line message when ``exc`` says no Kafka broker answers, else None. With SASL
    or TLS set, a broker that answers but refuses the handshake is said so instead
    (:func:`_handshake_refused`)."""
    # imported here: most errors (bad input) never need the Kafka client loaded
    if isinstance(exc, KafkaUnavailableError):
        from hub.core.kafka.client import unavailable_message

        return _handshake_refused() or unavailable_message(
            exc.bootstrap_servers or _bootstrap_servers()
        )
    if type(exc).__module__.startswith("aiokafka"):
        # services that start their clients themselves let aiokafka's error through
        from aiokafka.errors import KafkaConnectionError

        from hub.core.kafka.client import unavailable_message

        if isinstance(exc, KafkaConnectionError):
            return _handshake_refused() or unavailable_message(_bootstrap_servers())
    return None


def _handshake_refused() -> str | None:
    """For a command whose Kafka client could not start by itself (not through
    :func:`hub.core.kafka.client.start_client`, which says it already): the one line of a
    broker refusing the SASL authentication or the TLS handshake, when it does
    (:func:`hub.core.kafka.handshake.diagnose`; audit K F11), else None."""
    import asyncio

    from hub.core.kafka.client import client_options
    from hub.core.kafka.handshake import diagnose
    from hub.core.settings import get_settings

    try:
        settings = get_settings()
        refused = asyncio.run(diagnose(settings, client_options(settings)))
    except Exception:  # settings refused, a loop running: the broker is said unreachable
        return None
    return None if refused is None else refused.message


def error_message(exc: BaseException) -> str | None:
    """The one line a person reads for ``exc`` (module doc), or None when ``exc`` is not an
    error of the hub nor an unreachable broker (a bug: its traceback is wanted).

    A hub error caused by an unreachable broker, whose message quotes it ("actor registry
    saved but not yet published: ... Kafka unavailable: ..."), has that part said as for
    the broker alone: where Kafka was looked for and how to start it."""
    unreachable = _kafka_unreachable(exc)
    if unreachable is not None or not isinstance(exc, HubError):
        return unreachable
    message = exc.message
    cause: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(10):  # a chain is short; a cycle is not followed for ever
        if cause is None:
            break
        if isinstance(cause, KafkaUnavailableError) and cause.message in message:
            return message.replace(cause.message, _kafka_unreachable(cause) or cause.message)
        cause = cause.__cause__ or cause.__context__
    return message


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one printable line (a file name may hold a newline): control
    characters escaped, cut at ``limit`` characters."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quiet_broken_pipe() -> None:
    """The reader of stdout went away (``| head``): send what is left to /dev/null, so
    the interpreter's flush at exit does not fail again with "Exception ignored ...
    BrokenPipeError" on stderr."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # nothing better to do: the exit may say "Exception ignored"
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured): nothing will be flushed there
        pass
    finally:
        os.close(devnull)


#: ``-v`` given after the subcommand (``hub stack status -v``): no subcommand has a ``-v``
#: of its own, so it means the group's; a ``--`` ends the options (a value may look alike)
_VERBOSE = re.compile(r"-v+|--verbose")


def _verbose_first(args: list[str]) -> list[str]:
    """``args`` with the verbosity flags met before ``--`` moved to the front."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if _VERBOSE.fullmatch(a)]
    if not flags:
        return args
    return [*flags, *(a for a in args[:end] if not _VERBOSE.fullmatch(a)), *args[end:]]


def _announce_new_home() -> None:
    """One line on stderr when this command is about to use a hub home that does not
    exist yet (no ``HUB_HOME``, no ``.hub`` here or above): a command run from the wrong
    folder otherwise shows a new, empty registry as if it were the real one."""
    if os.environ.get("HUB_HOME") or {"--help", "-h"} & set(sys.argv[1:]):
        return
    from hub.core.home import HOME_NAME, find_home

    home = find_home()
    try:
        exists = home.is_dir()
    except OSError:
        return
    if not exists:
        click.echo(f"hub: no {HOME_NAME} in {Path.cwd()} or above: this command uses a new, "
                   f"empty hub home there (set HUB_HOME, or run it from your project)",
                   err=True)  # fmt: skip


class HubGroup(click.Group):
    """Turns every :class:`HubError` and an unreachable Kafka into a one-line message (no
    traceback), exit 1; a closed stdout into a quiet exit 0 (module doc). ``-v`` is taken
    wherever it stands (:func:`_verbose_first`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _verbose_first(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_broken_pipe()
            raise click.exceptions.Exit(0) from None
        except KeyboardInterrupt:  # click's own answer is "Aborted!" and exit 1
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except Exception as exc:
            message = error_message(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None


#: the subcommands of ``hub``, each imported when it is named: name -> (module, attribute,
#: modules adding subcommands to it). A command loads only what it runs (the whole command
#: line took ~0.8 s of CPU to import, for every command); ``hub --help`` loads them all.
#: ``hub db`` registers itself on :data:`main` (hub.cli.db).
_COMMANDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "stack": ("hub.cli.stack", "stack", ()),
    "actors": ("hub.cli.actors", "actors", ("hub.cli.actor_kafka", "hub.cli.api")),
    "publish": ("hub.cli.publish", "publish", ()),
    "feed": ("hub.cli.feed", "feed", ()),
    "worker": ("hub.cli.worker", "worker", ()),
    "demo": ("hub.cli.demo", "demo", ()),
    "files": ("hub.cli.files", "files", ()),
    "api": ("hub.cli.api", "api", ()),
    "audit": ("hub.cli.api", "audit", ("hub.cli.audit_record",)),
    "deliver": ("hub.cli.api", "deliver", ()),
    "sne-simulator": ("hub.cli.sne", "sne_simulator", ()),
    "soap-gateway": ("hub.cli.sne", "soap_gateway", ()),
    "sne-poll": ("hub.cli.sne", "sne_poll", ()),
    "dlq": ("hub.cli.dlq", "dlq", ()),
    "purge": ("hub.cli.purge", "purge", ()),
    "gp": ("hub.cli.gp", "gp", ()),
    "status": ("hub.cli.status", "status", ()),
    "clock": ("hub.cli.clock", "clock", ()),
    "stats": ("hub.cli.stats", "stats", ()),
    "db": ("hub.cli.db", "db", ()),
}


class _LazyHubGroup(HubGroup):
    """:data:`main`: its subcommands are imported when named (:data:`_COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, attr, extras = _COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attr)
            for extra in extras:
                importlib.import_module(extra)
            self.add_command(command, cmd_name)
            plain_help(command)
        return super().get_command(ctx, cmd_name)


#: which install runs, for two clones or a venv beside a global install
_VERSION = (
    "%(prog)s, version %(version)s, from "
    f"{Path(__file__).resolve().parents[2]} (Python {sys.version.split()[0]}, {sys.executable})"
)


@click.group(cls=_LazyHubGroup)
@click.version_option(package_name="passerelle", prog_name="hub", message=_VERSION)
@click.option("-v", "--verbose", count=True, help="More logs (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Passerelle: dispatch social-housing demands to every actor of their territory."""
    level = logging.WARNING - 10 * min(verbose, 2)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    before = set(root.handlers)
    logging.basicConfig(level=level, format=fmt)
    from hub.core import log_urls

    # no URL's query (a push URL's token) nor userinfo in any line, at any -v (audit K F9)
    log_urls.install([h for h in root.handlers if h not in before], fmt)
    from hub.core.kafka.client import ConnectionNoise

    # Without -v, the Kafka client's warnings about retries it then resolves (a new broker
    # electing leaders) are noise for a person, and so are the errors it logs for each
    # connection it could not make: the command says "Kafka not reachable" once instead.
    logging.getLogger("aiokafka").setLevel(logging.NOTSET if verbose else logging.ERROR)
    for name in ConnectionNoise.LOGGERS:
        noisy = logging.getLogger(name)
        for old in [f for f in noisy.filters if isinstance(f, ConnectionNoise)]:
            noisy.removeFilter(old)  # main() run again in one process (tests): as told now
        if not verbose:  # a service (worker, API, connectors) takes it off as it starts
            noisy.addFilter(ConnectionNoise())
    _announce_new_home()
    from hub.core.schema_registry import install_resolver

    install_resolver()  # feed records in the Confluent wire format: ids read when first met


_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def plain_help(command: click.Command) -> None:
    """Rewrite the help of ``command``, its options and its subcommands as plain text:
    a docstring's reST literal ````x```` (for Sphinx and readers of the code) shows as
    ``'x'``, as the other help texts quote commands."""
    for attr in ("help", "short_help", "epilog"):
        text = getattr(command, attr)
        if text:
            setattr(command, attr, _LITERAL.sub(r"'\1'", text))
    for param in command.params:
        if isinstance(param, click.Option) and param.help:
            param.help = _LITERAL.sub(r"'\1'", param.help)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            plain_help(sub)


plain_help(main)
