"""The ACD's errors: every one is a ``HubError`` with a message for the user."""
from __future__ import annotations

from hub.errors import HubError


class AcdError(HubError, ValueError):
    """Bad input to the ACD (a queue file, an event, a matrix); the message says what and where."""


class ConfigError(AcdError):
    """A queue file is malformed; ``problems`` lists every issue with its place."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: {len(problems)} problem(s): " + "; ".join(problems[:20]) + more)
