"""docs/consumers.md shows the consumer examples as they are: every code block marked
``<!-- excerpt: PATH -->`` is a verbatim part of that file (the examples themselves run
against the real broker in tests/integration/test_feed_consumers.py)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "consumers.md"
EXCERPT = re.compile(r"<!-- excerpt: (\S+) -->\n```\w*\n(.*?)```", re.DOTALL)


def test_guide_excerpts_are_verbatim_parts_of_the_examples() -> None:
    excerpts = EXCERPT.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(excerpts) >= 3
    for path, code in excerpts:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert code in source, f"docs/consumers.md: an excerpt is not in {path}"
    assert {p for p, _ in excerpts} >= {"examples/python-consumer/feed_consumer.py",
                                        "examples/jvm-consumer/src/main/java/fr/passerelle/"
                                        "examples/FeedConsumer.java"}
