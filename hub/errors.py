"""The hub's errors: one root, ``HubError``.

Every error the hub raises for a user's mistake or an unusable environment (a bad network file,
an unknown site, a store that cannot be opened) is a ``HubError``; the CLI turns it into one
clear line (``cli.py``).  Anything else reaching the CLI is a bug and shows its traceback.
"""
from __future__ import annotations


class HubError(Exception):
    """Root of the hub's errors; the message is meant for the user."""
