"""Issue 4: see docs/api.md."""
