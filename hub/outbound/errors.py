"""The outbound errors: every one is a ``HubError`` with a message for the user."""
from __future__ import annotations

from hub.errors import HubError


class OutboundError(HubError, ValueError):
    """Bad input to the outbound dialer (a campaign file, a list, an event)."""


class CampaignError(OutboundError):
    """A campaign file is malformed; ``problems`` lists every issue with its place."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: {len(problems)} problem(s): " + "; ".join(problems[:20]) + more)
