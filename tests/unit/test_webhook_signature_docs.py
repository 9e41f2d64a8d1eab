"""Audit F3: a receiver written from docs/api.md alone verifies the hub's webhook
signatures. The check is the docs' own snippet (extracted and run), the key is what
``hub actors webhook-key`` prints, the bodies are signed by the deliverer's ``sign``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from connectors.outbound.webhook import actor_key, sign
from hub.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECRET = "a master secret of the deployment"


def _doc_check() -> Any:
    text = DOC.read_text(encoding="utf-8")
    part = text[text.index("**Checking the signature**") :]
    code = re.search(r"```python\n(.*?)```", part, re.S)
    assert code, "docs/api.md: the receiver's snippet is missing"
    scope: dict[str, Any] = {}
    exec(compile(re.sub(r"(?m)^  ", "", code.group(1)), str(DOC), "exec"), scope)
    return scope["signed_by_passerelle"]


def _printed_key(monkeypatch: Any, actor: str) -> str:
    from hub.core.settings import get_settings

    monkeypatch.setenv("HUB_API__WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()  # read once per process: an earlier test may have read it
    try:
        out = CliRunner().invoke(main, ["actors", "webhook-key", actor])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    return out.output.strip()


def test_the_printed_key_is_the_hex_of_the_signing_key(monkeypatch: Any) -> None:
    printed = _printed_key(monkeypatch, "erp")
    assert re.fullmatch(r"[0-9a-f]{64}", printed)
    assert bytes.fromhex(printed) == actor_key(SECRET, "erp")


@given(body=st.binary(max_size=2048), actor=st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True))
def test_the_docs_snippet_verifies_real_signatures(body: bytes, actor: str) -> None:
    check = _doc_check()
    printed = actor_key(SECRET, actor).hex()  # what the command prints (test above)
    header = sign(actor_key(SECRET, actor), body)
    assert check(printed, body, header)
    assert not check(printed, body + b" ", header)  # any change of the bytes fails
    assert not check(actor_key(SECRET, actor + "x").hex(), body, header)
