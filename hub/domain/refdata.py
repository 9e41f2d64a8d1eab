"""Versioned reference tables: SNE codes are data checked here, never Avro enums.

A code list changes over time (new motives, the 2027 national numbering...): add a new
version of the table rather than editing one in place, and bump ``VERSION``.
"""

from __future__ import annotations

import re

from hub.core.errors import InputError, InvalidNumUniqueError

VERSION = "2026.11"

TABLES: dict[str, frozenset[str]] = {
    "operation": frozenset({"CRE", "CRS", "MOD", "REN", "RAD", "SUP"}),
    "typologie": frozenset({"C", "T1", "T2", "T3", "T4", "T5", "T6P"}),
    "motifRadiation": frozenset({"RADATT", "RADABA", "RADIRR", "RADCON", "RADREN", ""}),
    "statutDalo": frozenset({"NON", "ACTIF", "CADUC", "ACTREL"}),
}

#: Accepted numéro unique formats, by version. The number is opaque to the hub: a pattern
#: decides validity, nothing parses it (a national numbering is announced for 2027).
NUM_UNIQUE_PATTERNS: dict[str, re.Pattern[str]] = {
    # DDD territory, MMYY of first deposit, 6-digit sequence, 5-char guichet code
    "2011": re.compile(r"^[0-9]{2}[0-9AB][0-9]{2}[0-9]{2}[0-9]{6}[0-9A-Z]{5}$"),
}


def check_code(table: str, value: str) -> str:
    """Return ``value`` if it belongs to ``table``, else raise :class:`InputError`."""
    if value not in TABLES[table]:
        raise InputError(
            f"unknown {table} code {value!r} (reference tables {VERSION})", code=f"bad_{table}"
        )
    return value


def check_num_unique(value: str) -> str:
    """Return the numéro unique if one accepted pattern matches it."""
    if not value.strip():
        raise InvalidNumUniqueError("numéro unique missing", code="missing_num_unique")
    if not any(p.match(value) for p in NUM_UNIQUE_PATTERNS.values()):
        raise InvalidNumUniqueError(f"malformed numéro unique {value[:40]!r}")
    return value
