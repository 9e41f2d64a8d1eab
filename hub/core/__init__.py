"""Floor 1, the ground: settings, errors, topics, database, Kafka plumbing, safe XML.

Imports nothing of the hub above it (tests/unit/test_floors.py)."""
