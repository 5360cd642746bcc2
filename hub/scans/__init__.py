"""Committed scans: their tables, the commit, parcel state, sequence gaps, tracking."""
