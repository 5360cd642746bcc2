"""The hub store: the peewee proxy (SQLite or PostgreSQL), bulk helpers, the Meta table."""
