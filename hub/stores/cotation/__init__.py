"""Stored cotation declarations (the engine is pure: hub/domain/cotation)."""
