"""HID POS barcode scanners (HID usage page 0x8C, "Bar Code Scanner"): 64-byte input reports.

Report layout (byte 0 = report id, as hidraw and hidapi deliver it; Honeywell and Access-IS
manuals, "HID input report")::

    0      report id (2)
    1      length: valid data bytes in this report (0-56)
    2-4    AIM symbology identifier (``]`` + code + modifier)
    5-60   data, padded with 0x00
    61     vendor symbology code (Honeywell "code ID"; 0 when unused)
    62     reserved
    63     bit 0: more data follows in the next report

A barcode longer than 56 bytes comes in several reports; the data is joined until a report with
bit 0 clear.  Example (Access-IS manual, second report of a 60-byte QR read)::

    02 04 5D 51 30 20 31 30 30 00 … 00 73 00 00     -> " 100", AIM ]Q0, code id 's', last

Options: ``report_id`` (default 2), ``encoding`` of the data (default ``utf-8``; ``gbk``,
``latin-1``); data that does not decode is refused.
"""
from __future__ import annotations

from drivers.scanner.aim import symbology_of
from drivers.scanner.base import ScannerDecoder
from drivers.scanner.errors import FrameError, ScannerOptionError
from drivers.scanner.read import Read

REPORT_SIZE = 64
DATA_MAX = 56
MAX_MESSAGE = 8192

#: Honeywell code id (byte 61) -> our symbology name, used when the AIM identifier is missing.
HONEYWELL_CODE_IDS = {
    0x6A: "code128", 0x62: "code39", 0x69: "code93", 0x64: "ean13", 0x44: "ean8", 0x63: "upca",
    0x45: "upce", 0x65: "itf", 0x61: "codabar", 0x49: "gs1-128", 0x73: "qr", 0x77: "datamatrix",
    0x72: "pdf417", 0x7A: "aztec", 0x79: "databar",
}


def parse_report(report: bytes, report_id: int = 2) -> tuple[str, bytes, int, bool]:
    """``(aim, data, code_id, more)`` of one report (raises :class:`FrameError`)."""
    if len(report) != REPORT_SIZE:
        raise FrameError(f"HID POS report must be {REPORT_SIZE} bytes, not {len(report)}")
    if report[0] != report_id:
        raise FrameError(f"report id {report[0]} is not {report_id}")
    n = report[1]
    if n > DATA_MAX:
        raise FrameError(f"length byte {n} exceeds {DATA_MAX}")
    aim = report[2:5]
    if aim[0:1] != b"]" or not aim.isascii():
        raise FrameError(f"bad AIM identifier {aim!r}")
    return aim.decode("ascii"), bytes(report[5:5 + n]), report[61], bool(report[63] & 1)


class HidPosDecoder(ScannerDecoder):
    """Decoder for HID POS scanners (see the module docstring)."""

    name = "hid-pos"
    summary = "HID POS scanners (usage page 0x8C): 64-byte reports, AIM, multi-report"
    transport = "hid"

    def __init__(self, device_id: str = "scanner", *, report_id: int = 2, encoding: str = "utf-8",
                 clock=None):
        super().__init__(device_id, clock=clock)
        if not isinstance(report_id, int) or not 0 < report_id < 256:
            raise ScannerOptionError("report_id must be 1-255")
        if encoding not in ("utf-8", "gbk", "latin-1", "ascii"):
            raise ScannerOptionError(f"encoding must be utf-8, gbk, latin-1 or ascii, not {encoding!r}")
        self.report_id, self.encoding = report_id, encoding
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._aim: str | None = None

    def reset(self) -> None:
        self._buf.clear()
        self._parts, self._aim = [], None

    def _feed(self, data: bytes) -> list[Read]:
        self._buf += data
        reads = []
        while len(self._buf) >= REPORT_SIZE:
            if self._buf[0] != self.report_id:
                # Another report type, or out of step: resynchronise on the next report id byte.
                i = self._buf.find(bytes([self.report_id]), 1)
                skip = i if i > 0 else len(self._buf)
                self._bad("not a barcode report", skip)
                del self._buf[:skip]
                continue
            report = bytes(self._buf[:REPORT_SIZE])
            try:
                aim, chunk, code_id, more = parse_report(report, self.report_id)
            except FrameError as e:
                self._bad(str(e), 1)
                del self._buf[:1]
                continue
            del self._buf[:REPORT_SIZE]
            if self._aim is None:
                self._aim = aim
            self._parts.append(chunk)
            if sum(map(len, self._parts)) > MAX_MESSAGE:
                self._bad("barcode longer than 8192 bytes", MAX_MESSAGE)
                self._parts, self._aim = [], None
                continue
            if more:
                continue
            raw, aim, self._parts, self._aim = b"".join(self._parts), self._aim, [], None
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError:
                self._bad(f"barcode data is not valid {self.encoding}", len(raw))
                continue
            if not text:
                self._bad("empty barcode report")
                continue
            reads.append(self._read(text, symbology_of(aim) or HONEYWELL_CODE_IDS.get(code_id), aim))
        return reads
