"""The stores' floor: what the hub keeps (actor registry, audit chain, GP events, API access,
cotation declarations, delivery outbox): tables and the stores over them."""
