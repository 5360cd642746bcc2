"""The edge's errors: one root, ``EdgeError``; the CLI turns it into one clear line."""
from __future__ import annotations


class EdgeError(Exception):
    """Root of the edge's errors; the message is meant for the operator or technician."""
