"""The hardened parser reads what XML 1.0 says a processor reads, and refuses only real
DTDs (independent audit J, F6 and F7).

* F6: UTF-16 (XML 1.0 §4.3.3: "All XML processors MUST be able to read entities in both
  the UTF-8 and UTF-16 encodings"), with its byte order mark or, without one, declared
  ``UTF-16LE``/``UTF-16BE`` (Appendix F) is read; UTF-32 and EBCDIC, which a processor
  need not read, are refused ``unsupported_encoding`` — not "hostile".
* F7: ``<!DOCTYPE``/``<!ENTITY``/``<!ELEMENT``/``<!ATTLIST`` written as text — inside a
  CDATA section, a comment, a processing instruction or escaped in a value — is text; a
  DOCTYPE in the prolog is still refused before parsing, in every accepted encoding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hub.cli import main
from hub.core import xmlsafe
from hub.core.errors import InputError
from tests.support.outline_docs import generate

MARKUP = ["<!DOCTYPE", "<!ENTITY", "<!ELEMENT", "<!ATTLIST", '<!DOCTYPE r [<!ENTITY x "y">]>',
          '<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;']  # fmt: skip
DTDS = ["<!DOCTYPE r>", '<!DOCTYPE r [<!ENTITY x "y">]>',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
        '<!DOCTYPE r SYSTEM "http://attacker.invalid/x.dtd">']  # fmt: skip
#: XML 1.0 Char, without the sequences that would end a CDATA section or a comment
_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
)
_TEXT = st.text(_CHARS, max_size=30)
#: the spec's must-read encodings (with a mark, or declared without one) and 8-bit ones
ENCODINGS = [
    ("UTF-8", "utf-8", b""),
    ("UTF-8", "utf-8", b"\xef\xbb\xbf"),
    ("UTF-16", "utf-16-le", b"\xff\xfe"),
    ("UTF-16", "utf-16-be", b"\xfe\xff"),
    ("UTF-16LE", "utf-16-le", b""),
    ("UTF-16BE", "utf-16-be", b""),
]


def _encode(text: str, name: str, codec: str, mark: bytes) -> bytes:
    return mark + f'<?xml version="1.0" encoding="{name}"?>'.encode(codec) + text.encode(codec)


@st.composite
def markup_in_text(draw: st.DrawFn) -> tuple[str, str]:
    """(document, the text its root element holds) with DTD markup written as text."""
    before, after = draw(_TEXT), draw(_TEXT)
    markup = draw(st.sampled_from(MARKUP))
    where = draw(st.sampled_from(["cdata", "comment", "pi", "escaped", "prolog-comment"]))
    safe = before.replace("]]>", "").replace("--", "").replace("?>", "")
    if where == "cdata":
        return f"<r>{_esc(safe)}<![CDATA[{markup}]]></r>", safe + markup
    if where == "comment":
        return f"<r><!-- {safe} {markup} -->{_esc(after)}</r>", after
    if where == "pi":
        return f"<r><?note {markup} ?>{_esc(after)}</r>", after
    if where == "escaped":
        return f"<r>{_esc(markup + after)}</r>", markup + after
    return f"<!-- {markup} --><?p {markup}?>\n<r>{_esc(after)}</r>", after


def _esc(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


@settings(max_examples=300, deadline=None)
@given(markup_in_text(), st.sampled_from(ENCODINGS))
def test_dtd_markup_written_as_text_is_text(
    case: tuple[str, str], enc: tuple[str, str, bytes]
) -> None:
    doc, text = case
    root = xmlsafe.parse(_encode(doc, *enc))
    assert (root.text or "") == text


@settings(max_examples=200, deadline=None)
@given(_TEXT, st.sampled_from(ENCODINGS), st.sampled_from(DTDS), st.booleans())
def test_a_doctype_in_the_prolog_is_refused_in_every_encoding(
    text: str, enc: tuple[str, str, bytes], dtd: str, comment_first: bool
) -> None:
    prolog = ("<!-- <r/> --><?p x?>\n" if comment_first else "") + dtd
    doc = _encode(f"{prolog}<r>{_esc(text)}</r>", *enc)
    with pytest.raises(InputError, match="not accepted") as err:
        xmlsafe.parse(doc)
    assert err.value.code == "hostile_xml"


@settings(max_examples=200, deadline=None)
@given(_TEXT, st.sampled_from(ENCODINGS))
def test_utf16_and_utf8_read_the_same_text(text: str, enc: tuple[str, str, bytes]) -> None:
    assert (xmlsafe.parse(_encode(f"<r>{_esc(text)}</r>", *enc)).text or "") == text


def test_utf16_with_a_mark_and_no_declaration_is_read() -> None:
    assert xmlsafe.parse("<r>é€</r>".encode("utf-16")).text == "é€"


@pytest.mark.parametrize(
    "data",
    [
        '<?xml version="1.0" encoding="UTF-32"?><r/>'.encode("utf-32"),  # with its mark
        '<?xml version="1.0" encoding="UTF-32BE"?><r/>'.encode("utf-32-be"),
        '<?xml version="1.0" encoding="UTF-32LE"?><r/>'.encode("utf-32-le"),
        '<?xml version="1.0" encoding="cp500"?><r/>'.encode("cp500"),  # EBCDIC
        '<?xml version="1.0" encoding="UTF-7"?><r/>'.encode("utf-7"),
        b'<?xml version="1.0" encoding="X-UNKNOWN"?><r/>',
        b'<?xml version="1.0" encoding="UTF-16"?><r/>',  # declared, but 8-bit bytes
        "<r>x</r>".encode("utf-16-le"),  # 16-bit, no mark, no declaration
        '<?xml version="1.0" encoding="UTF-16BE"?><r/>'.encode("utf-16-le"),  # wrong order
    ],
    ids=[
        "utf32",
        "utf32be",
        "utf32le",
        "ebcdic",
        "utf7",
        "unknown",
        "utf16-declared-8bit",
        "utf16-no-mark-no-decl",
        "utf16-wrong-order",
    ],
)
def test_encodings_the_hub_does_not_read_are_unsupported_not_hostile(data: bytes) -> None:
    with pytest.raises(InputError) as err:
        xmlsafe.parse(data)
    assert err.value.code == "unsupported_encoding", str(err.value)
    assert "\n" not in str(err.value)


def test_a_doctype_hidden_by_utf7_is_never_read() -> None:
    doc = b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE r+AD4-<r/>'
    with pytest.raises(InputError) as err:
        xmlsafe.parse(doc)
    assert err.value.code in ("unsupported_encoding", "hostile_xml")


# -- a real entrance: hub publish ------------------------------------------------------------


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 10_000), st.sampled_from(ENCODINGS), st.sampled_from(MARKUP))
def test_hub_publish_takes_utf16_and_markup_in_cdata(
    tmp_path: Path, seed: int, enc: tuple[str, str, bytes], markup: str
) -> None:
    """An outline-generated document, its ``precision`` holding DTD markup in a CDATA
    section, re-encoded: ``hub publish --dry-run`` takes it (audit J's repro, F6 and F7)."""
    doc = generate(seed, "random", operation="MOD")
    root = etree.fromstring(doc.xml)
    (precision,) = root.xpath("//*[local-name()='precision']")
    precision.text = etree.CDATA(f"voir {markup} du dossier")
    text = etree.tostring(root, encoding="unicode")
    name, codec, mark = enc
    path = tmp_path / f"d-{seed}-{name}-{len(mark)}.xml"
    path.write_bytes(_encode(text, name, codec, mark))
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(path)])
    assert res.exit_code == 0, res.output
