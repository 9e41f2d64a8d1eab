"""The statistics' facts table, one row per demand folded from hub.demandes (issue 20
point 5), its store and the quartile thresholds read from it (docs/statistics.md)."""
