"""The services' floor: operations over the lower floors (purge, feeds, status, dead letters)."""
