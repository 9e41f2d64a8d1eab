"""Coverage-guided fuzzing with atheris (libFuzzer) of one target.

``python -m tests.fuzz.atheris_fuzz <avro|xml|actor> -atheris_runs=100000 [corpus dir]``
(give a *copy* of ``tests/fuzz/corpus/<target>``: libFuzzer adds the inputs it finds):
every input must be accepted or rejected with the project's error type; anything else
escapes and libFuzzer reports the crash and writes the input (``crash-*``) to replay.
"""

from __future__ import annotations

import contextlib
import sys

import atheris  # type: ignore[import-not-found]

with atheris.instrument_imports():
    # the code under test must be imported here to be instrumented (coverage feedback)
    import connectors.interfacenuu.mapping  # noqa: F401
    import hub.stores.registry.importer  # noqa: F401
    import schemas.codec  # noqa: F401
    from tests.fuzz.targets import ACCEPTED_ERRORS, TARGETS


def main() -> None:
    target = TARGETS[sys.argv[1]]
    allowed = ACCEPTED_ERRORS + target.pre_errors

    def one(data: bytes) -> None:
        with contextlib.suppress(*allowed):
            target.run(data)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
