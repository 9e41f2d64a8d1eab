"""Independent audit J's reading of an InterfaceNuu document into plain values (its
``repro/independent.py``, copied as a test oracle), driven by the domain outline only
(:mod:`tests.support.auditj_grammar`), and a comparison with a snapshot dict (feed JSON).

Adapted to the XSD/domain facts of audit J's F1, F2 and F8: ``xs:date``/``xs:dateTime``
values are whitespace-collapsed, a coded element without ``code`` is the empty code "",
and :func:`flags` lists the elements flagged ``modifie`` true (``xs:boolean``, collapsed)
with the index of each list item."""

from lxml import etree

from tests.support.auditj_grammar import NS, Child, Choice, load

TYPES = load()
BOOL = {"true": True, "1": True, "false": False, "0": False}


def children_defs(t):
    for it in t.items:
        if isinstance(it, Choice):
            for alt in it.alts:
                yield from alt
        else:
            yield it


def is_wrapper(t):
    defs = list(children_defs(t))
    return (
        len(defs) == 1
        and defs[0].hi is None
        and not t.attrs
        and t.name != "t_principauxMotifDemande"
    )


def value(el, c: Child):
    if c.simple is not None:
        txt = el.text or ""
        b = c.simple.base
        if c.attrs:
            d = {"valeur": txt}
            for an, _, _ in c.attrs:
                d[an] = el.get(an)
            return d
        if b in ("date", "dateTime"):
            return " ".join(_ws(txt))
        if b == "boolean":
            return BOOL[txt.strip()]
        if b == "int":
            return int(txt.strip())
        return txt
    t = TYPES[c.tname]
    if not t.items and [a[0] for a in t.attrs] == ["code"]:
        return el.get("code", "")
    if is_wrapper(t):
        item = next(children_defs(t))
        return [value(x, item) for x in el if isinstance(x.tag, str)]
    return record(el, t)


def record(el, t):
    defs = {c.name: c for c in children_defs(t)}
    out = {}
    for an, _, _ in t.attrs:
        if el.get(an) is not None:
            out[an] = el.get(an)
    for x in el:
        if not isinstance(x.tag, str):
            continue
        name = etree.QName(x).localname
        c = defs[name]
        v = value(x, c)
        if c.hi is None or (c.hi or 1) > 1:
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    return out


def _ws(text):
    return [
        p for p in text.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ") if p
    ]


def flags(doc_bytes):
    """Dotted paths under ``demande`` of the elements flagged ``modifie`` true, a list item
    (a wrapper's item or a repeated element) with its 0-based index."""
    root = etree.fromstring(doc_bytes, etree.XMLParser(remove_comments=True, remove_pis=True))
    out = []

    def walk(el, t, path):
        defs = {c.name: c for c in children_defs(t)}
        wrapper = is_wrapper(t)
        counts = {}
        for x in el:
            if not isinstance(x.tag, str):
                continue
            name = etree.QName(x).localname
            c = defs[name]
            p = f"{path}.{name}" if path else name
            if wrapper or c.hi is None or c.hi > 1:
                p = f"{p}[{counts.get(name, 0)}]"
                counts[name] = counts.get(name, 0) + 1
            flag = x.get(f"{{{NS}}}modifie")
            if flag is not None and " ".join(_ws(flag)) in ("true", "1"):
                out.append(p)
            if c.simple is None and TYPES[c.tname].items:
                walk(x, TYPES[c.tname], p)

    walk(root.find(f"{{{NS}}}demande"), TYPES["t_demande"], "")
    return out


def demande_of(doc_bytes):
    root = etree.fromstring(doc_bytes, etree.XMLParser(remove_comments=True, remove_pis=True))
    return record(root.find(f"{{{NS}}}demande"), TYPES["t_demande"])


def prune(x):
    if isinstance(x, dict):
        return {k: prune(v) for k, v in x.items() if v is not None and k != "piecesJustificatives"}
    if isinstance(x, list):
        return [prune(v) for v in x]
    return x


def compare(a, b, path="demande", out=None):
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: extra in hub {b[k]!r:.80}")
            elif k not in b:
                out.append(f"{path}.{k}: missing in hub (doc {a[k]!r:.80})")
            else:
                compare(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items in doc, {len(b)} in hub")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            compare(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: doc {a!r:.80} != hub {b!r:.80}")
    return out
