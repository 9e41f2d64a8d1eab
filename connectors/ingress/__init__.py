"""Inbound demands: validation, numbering and publication to hub.demandes."""
