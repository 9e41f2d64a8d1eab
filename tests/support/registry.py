"""A private, fresh schema registry for a test module: Apicurio Registry as ``hub stack up
--with-registry`` runs it (hub.dev.stack.registry), built once per user into
``~/.cache/passerelle/registry/`` and run from a home of its own on a free port below the
ephemeral range. Its storage is in memory: it holds no id until the test registers one
(the first is 1), which is how the tests of a feed held at an unknown id begin."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.core.errors import HubError
from hub.core.settings import HubSettings
from hub.dev.stack.registry import RegistryStack


def low_port(low: int = 20000, high: int = 32767) -> int:
    """A loopback port free now, in [low, high] (below the kernel's ephemeral range, where
    client sockets would take it)."""
    for port in random.sample(range(low, high + 1), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


@contextmanager
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryStack]:
    """A fresh registry, stopped on exit; skips the test where it cannot be built or run."""
    shared = RegistryStack(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                           / "passerelle")  # fmt: skip
    try:
        shared.build()
    except HubError as exc:
        pytest.skip(f"the schema registry cannot be built here: {exc}")
    home = tmp_path_factory.mktemp("registry-home")
    private = RegistryStack(home, port=low_port())
    private.root.mkdir(mode=0o700)
    private.project_dir.symlink_to(shared.project_dir)  # the build, shared
    try:
        private.up(timeout=120)
    except HubError as exc:
        pytest.skip(f"the schema registry cannot be started here: {exc}")
    try:
        yield private
    finally:
        private.down()


def confluent_settings(settings: HubSettings, registry: RegistryStack) -> HubSettings:
    """``settings`` reading and writing the feeds in the Confluent wire format of
    ``registry``."""
    return settings.model_copy(update={"registry": settings.registry.model_copy(
        update={"url": registry.api_url, "wire_format": "confluent"})})  # fmt: skip
