"""The audit trail of deliveries of personal data (issues 4 and 7): docs/audit.md."""
