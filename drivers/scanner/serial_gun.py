"""Serial and USB-CDC barcode guns: ``[prefix] [AIM id] data suffix`` per read.

Most guns on RS-232 or USB-CDC (a virtual COM port) send each read as plain text followed by a
terminator (CR by default on Honeywell and Zebra; CR LF on many Chinese guns), optionally with a
configured prefix (often STX) and with the AIM symbology identifier if that is enabled.

Options:

``prefix``      bytes/str every read starts with (default none).  With a prefix, text between
                reads that does not carry it is noise: counted and skipped.  The *last* prefix in
                a line wins, so noise in front of a read never leaks into it.
``suffix``      bytes/str every read ends with; default ``None`` = CR, LF or CR LF.
``aim``         ``"auto"`` (strip a leading AIM identifier when there is one; default), ``True``
                (every read must carry one: reads without are refused) or ``False`` (leave the
                data as is).
``encoding``    how the gun encodes text (``utf-8`` default; ``gbk``, ``latin-1``).  A read that
                does not decode is refused, never guessed.
``max_length``  the longest read in bytes (default 1024): a longer run without a terminator is
                noise (wrong baud rate …) and is dropped up to the next terminator.
"""
from __future__ import annotations

import codecs

from drivers.scanner.aim import split_aim, symbology_of
from drivers.scanner.base import ScannerDecoder, as_bytes
from drivers.scanner.errors import ScannerOptionError
from drivers.scanner.read import Read

# Control characters a barcode may legitimately carry: EOT, GS (GS1 FNC1 separator), RS, FS.
ALLOWED_CONTROLS = frozenset("\x04\x1c\x1d\x1e")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a barcode read (empty, other control characters); else None."""
    if not text:
        return "empty read"
    if all(ch in ALLOWED_CONTROLS for ch in text):
        return "read of control characters only"
    for ch in text:
        if (ch < " " or ch == "\x7f") and ch not in ALLOWED_CONTROLS:
            return f"control character {ord(ch):#04x} in read"
    return None


class SerialGunDecoder(ScannerDecoder):
    """Decoder for ``serial`` guns (see the module docstring for the options)."""

    name = "serial"
    summary = "serial / USB-CDC guns: [prefix] [AIM] text suffix"
    transport = "serial"

    def __init__(self, device_id: str = "scanner", *, prefix=b"", suffix=None, aim="auto",
                 encoding: str = "utf-8", max_length: int = 1024, clock=None):
        super().__init__(device_id, clock=clock)
        self.prefix = as_bytes(prefix, "prefix")
        self.suffix = None if suffix in (None, "", b"") else as_bytes(suffix, "suffix")
        if aim not in ("auto", True, False):
            raise ScannerOptionError(f"aim must be 'auto', True or False, not {aim!r}")
        self.aim = aim
        try:
            codecs.lookup(encoding)
        except LookupError as e:
            raise ScannerOptionError(f"unknown encoding {encoding!r}") from e
        self.encoding = encoding
        if not isinstance(max_length, int) or max_length < 1:
            raise ScannerOptionError("max_length must be a positive int")
        self.max_length = max_length
        self._buf = bytearray()
        self._overflow = False

    def reset(self) -> None:
        self._buf.clear()
        self._overflow = False

    def _next_line(self) -> bytes | None:
        """Cut the next terminated line off the buffer (without its terminator)."""
        buf = self._buf
        if self.suffix is not None:
            i = buf.find(self.suffix)
            if i < 0:
                return None
            line = bytes(buf[:i])
            del buf[:i + len(self.suffix)]
            return line
        cr, lf = buf.find(b"\r"), buf.find(b"\n")
        ends = [i for i in (cr, lf) if i >= 0]
        if not ends:
            return None
        i = min(ends)
        line = bytes(buf[:i])
        del buf[:i + 1]
        return line

    def _feed(self, data: bytes) -> list[Read]:
        self._buf += data
        return self._drain()

    def _drain(self) -> list[Read]:
        """Decode every complete line in the buffer."""
        reads = []
        while True:
            line = self._next_line()
            if line is None:
                break
            if self._overflow:           # tail of an over-long run: drop it
                self._overflow = False
                self._bad("read longer than max_length", len(line))
                continue
            read = self.decode_line(line)
            if read is not None:
                reads.append(read)
        if len(self._buf) > self.max_length + len(self.prefix):
            self.stats["skipped_bytes"] += len(self._buf)
            self._buf.clear()
            self._overflow = True
        return reads

    def decode_line(self, line: bytes) -> Read | None:
        """One terminated line -> a read, or None (counted as bad unless it is just empty)."""
        if not line and self.suffix is None:
            return None                  # the LF of a CR LF pair, or a blank line
        if self.prefix:
            i = line.rfind(self.prefix)
            if i < 0:
                self._bad("line without the configured prefix", len(line))
                return None
            if i:
                self.stats["skipped_bytes"] += i
            line = line[i + len(self.prefix):]
        if len(line) > self.max_length:
            self._bad("read longer than max_length", len(line))
            return None
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError:
            self._bad(f"read is not valid {self.encoding}", len(line))
            return None
        aim = None
        if self.aim is not False:
            aim, text = split_aim(text)
            if aim is None and self.aim is True:
                self._bad("read without an AIM identifier", len(line))
                return None
        problem = text_problem(text)
        if problem:
            self._bad(problem, len(line))
            return None
        return self._read(text, symbology_of(aim) if aim else None, aim)
