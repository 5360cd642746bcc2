"""Errors of the GSM modem driver family (the CLI prints them as one line)."""
from __future__ import annotations


class GsmError(Exception):
    """Root of every GSM modem error."""


class PduError(GsmError, ValueError):
    """A PDU that cannot be built (bad number, empty text) or decoded (malformed hex)."""


class ModemError(GsmError):
    """The modem answered ERROR, +CMS ERROR or +CME ERROR, or did not answer in time."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class NoModem(GsmError):
    """No modem of a pool is able to send (all unregistered, gone or failing)."""
