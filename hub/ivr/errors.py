"""The IVR's errors: ``IvrError`` (a ``HubError``) and ``FlowError``, which lists every problem of
a flow with its place."""
from __future__ import annotations

from hub.errors import HubError


class IvrError(HubError):
    """Root of the IVR's errors; the message is meant for the user."""


class FlowError(IvrError, ValueError):
    """A flow (or its calendar) cannot be used; ``problems`` lists each one as
    ``file:line: node: what``."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:20]) + more)
