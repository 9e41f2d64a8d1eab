"""InterfaceNuu (SNE business XML) connector: safe parsing and the demand ⇄ event mapping."""

from connectors.interfacenuu.mapping import parse_demande_xml, render_demande_xml
from connectors.interfacenuu.snapshot import NS

__all__ = ["NS", "parse_demande_xml", "render_demande_xml"]
