"""The program's state between runs: SQLAlchemy store and side-effect ledger."""
