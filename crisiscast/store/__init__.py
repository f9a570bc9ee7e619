"""Storage: SQLAlchemy models, engine and sessions, bulk writes, the append-only audit log."""
