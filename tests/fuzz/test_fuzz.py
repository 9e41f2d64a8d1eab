"""Fuzzing campaign: the Avro decoder, the InterfaceNuu XML parser, the actor-filter parser.

Every input is accepted or rejected with :class:`hub.core.errors.InputError` (DecodeError for
Avro); no other exception, no call slower than 2 s, bounded traced memory.
Default suite: a few thousand inputs per target (hypothesis + the mutation engine).
Nightly (``HUB_FUZZ_NIGHTLY=1``): 100,000 mutation inputs per target, and atheris
(coverage-guided) when installed; ``HUB_FUZZ_INPUTS`` overrides the count.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.errors import InputError
from tests.fuzz.engine import fuzz, load_corpus, zigzag
from tests.fuzz.targets import TARGETS

NIGHTLY = bool(os.environ.get("HUB_FUZZ_NIGHTLY"))
INPUTS = int(os.environ.get("HUB_FUZZ_INPUTS", "100000" if NIGHTLY else "2000"))
MAX_MB = 64  # traced peak over a whole campaign: inputs are capped at 1-2 MB
FINDINGS = Path(__file__).resolve().parent / "findings"
FAST = settings(max_examples=250, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def _accepts_or_rejects(name: str, data: bytes) -> None:
    target = TARGETS[name]
    try:
        target.run(data)
    except (InputError, *target.pre_errors):
        pass


# -- mutation campaigns (the volume) ---------------------------------------------------
@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.timeout(3600 if NIGHTLY else 120)
def test_mutation_campaign(name: str) -> None:
    out = fuzz(TARGETS[name], INPUTS, seed=20261123, save_to=FINDINGS)
    assert out.inputs == INPUTS
    assert out.rejected > 0 and out.accepted > 0  # the corpus is accepted, mutants mostly not
    assert out.crashes == [], [(c[0], c[1]) for c in out.crashes[:5]]
    assert out.hangs == [], f"{len(out.hangs)} inputs above 2 s (slowest {out.slowest_s:.2f}s)"
    assert out.peak_mb < MAX_MB, f"traced peak {out.peak_mb:.0f} MB"


# -- hypothesis: structure-aware inputs --------------------------------------------------
AVRO = load_corpus(TARGETS["avro"])


@FAST
@given(st.sampled_from(AVRO), st.integers(0, 2000), st.integers(-(2**63), 2**63 - 1),
       st.binary(max_size=32))  # fmt: skip
def test_avro_hostile_lengths(seed: bytes, at: int, count: int, tail: bytes) -> None:
    """A varint (any 64-bit value: 50 million items, negative sizes...) planted anywhere
    after a valid header."""
    pos = 10 + at % max(1, len(seed) - 9)
    _accepts_or_rejects("avro", seed[:pos] + zigzag(count) + tail + seed[pos:])


def test_avro_five_bytes_declaring_fifty_million_items() -> None:
    seed = AVRO[7]  # a FeedRecord
    with pytest.raises(InputError):
        TARGETS["avro"].run(seed[:10] + zigzag(50_000_000) + b"\x02")


XML = load_corpus(TARGETS["xml"])
_xml_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@FAST
@given(st.sampled_from(XML), st.integers(0, 10**6), _xml_text,
       st.sampled_from(["", "<x>", "</demande>", "<!DOCTYPE a>", "&amp;", "<![CDATA[",
                        "<?xml version='1.0'?>", "]]>", "\x00", "<a b='1' b='2'/>"]))  # fmt: skip
def test_xml_spliced_documents(doc: bytes, at: int, text: str, markup: str) -> None:
    pos = at % (len(doc) + 1)
    _accepts_or_rejects("xml", doc[:pos] + (markup + text).encode() + doc[pos:])


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)  # fmt: skip
_samples = ["76540", "2A004", "75056", "7654", "ABCDE", "", " 76540 ", "200023414", "76", "2B",
            "976", "T2", "t3"]
_codes = st.lists(st.sampled_from(_samples) | st.text(max_size=6), max_size=5)


@FAST
@given(st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "rouen-habitat", "-x", "A", "x" * 64]) | st.text(max_size=10),
     "name": st.text(max_size=5) | _json, "kind": st.sampled_from(["bailleur", "etat", "x"])},
    optional={"profile": st.sampled_from(["consultant_simple", "consultant_sensible", 3]),
              "filters": st.fixed_dictionaries({}, optional={
                  "communes": _codes, "epcis": _codes, "departements": _codes,
                  "typologies": _codes, "premier_choix_seulement": _json}) | _json,
              "delivery": st.fixed_dictionaries({"channel": st.sampled_from(
                  ["kafka", "webhook", "ftp"])}, optional={"options": _json}) | _json,
              "version": _json, "extra": _json}))  # fmt: skip
def test_actor_entries(entry: dict[str, Any]) -> None:
    from hub.stores.registry.importer import parse_actor

    try:
        actor = parse_actor(entry, "fuzz")
    except InputError:
        return
    assert actor.id == entry["id"]  # accepted: the shape is exactly what was given


# -- atheris (nightly) -------------------------------------------------------------------
@pytest.mark.fuzz_nightly
@pytest.mark.skipif(not NIGHTLY, reason="HUB_FUZZ_NIGHTLY=1")
@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.timeout(3600)
def test_atheris(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(TARGETS[name].corpus, corpus)
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.atheris_fuzz", name, f"-atheris_runs={INPUTS}",
         "-rss_limit_mb=2048", "-timeout=10", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
        check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
