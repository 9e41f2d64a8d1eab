"""Alembic migrations of the hub database (run through :func:`hub.db.migrate`)."""
