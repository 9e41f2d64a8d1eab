"""Fuzz targets: each takes raw bytes and must either accept them or reject them with the
project's error type (:class:`hub.core.errors.InputError` and subclasses). Anything else
escaping a target (KeyError, RecursionError, MemoryError...) is a finding."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub.core.errors import InputError

CORPUS = Path(__file__).resolve().parent / "corpus"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    #: how the raw input itself may fail before reaching the code under test (not findings)
    pre_errors: tuple[type[BaseException], ...] = ()

    @property
    def corpus(self) -> Path:
        return CORPUS / self.name


def _avro(data: bytes) -> object:
    from schemas import get_codec

    return get_codec().decode(data)


def _xml(data: bytes) -> object:
    from connectors.interfacenuu.mapping import parse_demande_xml

    return parse_demande_xml(data)


def _actor(data: bytes) -> object:
    from hub.stores.registry.importer import parse_actor

    entry = json.loads(data)  # the YAML/JSON layer is not under test: only its output
    return parse_actor(entry, "fuzz")


TARGETS = {
    "avro": Target("avro", _avro),
    "xml": Target("xml", _xml),
    "actor": Target("actor", _actor, pre_errors=(ValueError, RecursionError)),
}

#: the project's rejection: every target raises this family, nothing else
ACCEPTED_ERRORS: tuple[type[BaseException], ...] = (InputError,)
