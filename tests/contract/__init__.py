"""Contract suites: one per connector interface, run against every implementation (local and remote)."""
