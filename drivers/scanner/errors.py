"""Errors of the scanner drivers, one class per kind of trouble."""
from __future__ import annotations


class ScannerError(Exception):
    """Base class of every scanner driver error."""


class UnknownProtocolError(ScannerError, ValueError):
    """``open_scanner`` was given a protocol name it does not know."""


class ScannerOptionError(ScannerError, ValueError):
    """A protocol option is missing, of the wrong type or out of range."""


class FrameError(ScannerError, ValueError):
    """A frame could not be decoded (bad checksum, bad length, foreign bytes).

    Decoders count and skip bad frames rather than raising; this class is raised by the
    frame-level helpers (``parse_packet`` …) that tests and tools call directly.
    """


class BatchFormatError(FrameError):
    """A wireless batch upload is malformed, truncated or fails its checksum."""


class BatchRecordError(ScannerError, ValueError):
    """A batch record dict breaks the record contract (missing key, wrong type, unknown kind)."""


class CommandError(ScannerError):
    """A configuration command was refused by the device or got no valid reply."""


class CommandTimeout(CommandError):
    """The device did not answer a command in time."""


class TransportError(ScannerError):
    """The device's transport (HID, USB) could not be opened or failed."""
