"""Exception classes of the E1 layer, one per kind of failure.

Everything raised on purpose by ``drivers.e1_card`` derives from :class:`E1Error`, so a caller
(the CLI, the telephony service) can catch the family and print one clear line.
"""
from __future__ import annotations


class E1Error(Exception):
    """Base class of every error the E1 layer raises on purpose."""


class CodecError(E1Error, ValueError):
    """Bad input to a pure codec: wrong length, a symbol that is not a line symbol, a bad sample."""


class FrameError(CodecError):
    """An E1 frame or multiframe that cannot be built or read (wrong size, bad timeslot)."""


class CasError(CodecError):
    """A CAS (TS16) value that may not be sent, e.g. ABCD ``0000`` on a channel."""


class ToneError(CodecError):
    """A tone request outside the signal set (unknown MF digit, level out of range)."""


class SignallingError(E1Error):
    """A signalling request the state machine cannot honour in its present state."""


class Q931Error(CodecError):
    """A Q.921 frame or Q.931 message that is malformed or truncated."""


class ConfigError(E1Error, ValueError):
    """A trunk configuration that is inconsistent or incomplete."""


class BackendError(E1Error):
    """A span backend that cannot be opened or driven (no card, no device, unknown backend)."""


class DahdiParseError(CodecError):
    """Text from ``/proc/dahdi`` or ``dahdi_scan`` that does not have the expected shape."""
