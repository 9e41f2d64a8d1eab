"""Every setting is documented (audit L F10: ``HUB_API__PUBLISH_TIMEOUT_S``,
``HUB_STACK__POSTGRES_PORT`` and others were named nowhere): README.md or docs/*.md name
it by its variable (``HUB_SECTION__KEY``), its dotted name (``section.key``), or in the
settings table of its section (a heading naming ``HUB_SECTION__*``, the key in
backquotes)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from hub.core.settings import HubSettings

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_is_named_in_the_docs() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    text = "\n".join(p.read_text() for p in pages)
    tables: dict[str, str] = {}  # section -> the text of its settings section
    for heading in re.finditer(r"(?m)^#+ .*`HUB_([A-Z_]+?)__\*`.*$", text):
        rest = text[heading.end():]
        end = re.search(r"(?m)^#+ ", rest)
        tables[heading.group(1).lower()] = rest[: end.start() if end else None]
    missing = []
    for section, field in HubSettings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key in model.model_fields:
            named = (f"HUB_{section.upper()}__{key.upper()}" in text
                     or f"{section}.{key}" in text
                     or re.search(rf"`{key}`", tables.get(section, "")))  # fmt: skip
            if not named:
                missing.append(f"HUB_{section.upper()}__{key.upper()}")
    assert missing == []
