"""The sticky agent's caller key from the IVR's caller directory (``hub.ivr.directory``).

``customer_key(directory)`` turns a ``CallerDirectory`` into the engine's ``directory`` callable:
a number maps to the customer found for it only when exactly one customer matches, so a number
shared by several customers never sends a caller to somebody else's agent (it falls back to the
number itself).
"""
from __future__ import annotations

from collections.abc import Callable


def customer_key(directory) -> Callable[[str], str | None]:
    def key(number: str) -> str | None:
        found = directory.customers(number)
        return found[0].id if len(found) == 1 else None
    return key
