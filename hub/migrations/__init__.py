"""Alembic migrations of the hub database (run through :func:`hub.core.db.migrate`)."""
