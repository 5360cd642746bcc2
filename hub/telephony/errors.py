"""Errors of the telephony service, all under the hub's root error ``HubError``."""
from __future__ import annotations

from hub.errors import HubError


class TelephonyError(HubError):
    """Root of the telephony errors; the message is meant for the user."""


class SipParseError(TelephonyError, ValueError):
    """A SIP message (or a part of one: a URI, an address, SDP) that cannot be read.

    ``partial`` holds what could be read of a request before the fault (its start line and
    headers), so the transport can still answer ``400 Bad Request`` where RFC 3261 wants one."""

    def __init__(self, message: str, partial=None) -> None:
        super().__init__(message)
        self.partial = partial


class PbxConfigError(TelephonyError):
    """The PBX file (trunks, seats, dial plan) has problems; ``problems`` lists each with its place."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:20]) + more)
