"""Errors of the live call flows."""
from __future__ import annotations

from hub.errors import HubError


class CallflowError(HubError):
    """Flows, queues and the dial plan that do not go together, or a call flow that cannot start."""
