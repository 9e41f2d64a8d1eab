"""The core floor, above the errors and the Avro contract: settings, topics, database,
Kafka plumbing, safe XML, the one back-off.

Imports nothing of the hub above it (tests/unit/test_floors.py)."""
