"""API access control: keys, holders of demands, scope rules."""
