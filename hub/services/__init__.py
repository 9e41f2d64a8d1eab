"""Floor 6: operations over the lower floors (purge, feeds, status, dead letters)."""
