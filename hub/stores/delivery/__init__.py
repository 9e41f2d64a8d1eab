"""The push delivery outbox: what each actor was sent, and when to retry."""
