"""The knowledge base agents answer from: articles in categories, their versions, standard
phrases, and Chinese full-text search on SQLite (FTS5) and PostgreSQL (tsvector + pg_trgm).
docs/kb.md."""
