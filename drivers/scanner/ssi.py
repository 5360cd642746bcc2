"""Zebra (Symbol) SSI, the Simple Serial Interface: binary packets with a 16-bit checksum.

Packet (Zebra *Simple Serial Interface Programmer's Guide* 72E-40451, general packet format)::

    length  opcode  source  status  data…  checksum-high  checksum-low

``length``    bytes of the packet *without* the checksum: 4 + len(data), at most 255.
``source``    0 = decoder (scanner), 4 = host.
``status``    bit 0 retransmit (the scanner sends a packet again when no ACK came), bit 1
              continuation (more packets of the same message follow), bit 3 permanent parameter
              change; other bits 0.
``checksum``  two's complement of the 16-bit sum of all bytes before it, high byte first.

A decoded barcode comes as ``DECODE_DATA`` (0xF3) with data = barcode type (1 byte) + the
characters; the host answers every packet from the scanner with ``CMD_ACK`` (0xD0), or with
``CMD_NAK`` (0xD1, cause 1 = resend) when the checksum is wrong.  A retransmitted packet that we
already delivered (its ACK was lost) is acknowledged again but not delivered twice.

Example: ``04 D0 04 00 FF 28`` is the host's ACK (4 + 0xD0 + 4 + 0 = 0xD8; 0x10000 - 0xD8 =
0xFF28); a Code 128 read of ``ABC`` is ``08 F3 00 00 03 41 42 43 FE 3C``.
"""
from __future__ import annotations

from dataclasses import dataclass

from drivers.scanner.base import ScannerDecoder
from drivers.scanner.errors import FrameError, ScannerOptionError
from drivers.scanner.read import Read

SOURCE_DECODER = 0x00
SOURCE_HOST = 0x04
STATUS_RETRANSMIT = 0x01
STATUS_CONTINUATION = 0x02

OPCODES = {
    "CMD_ACK": 0xD0, "CMD_NAK": 0xD1, "DECODE_DATA": 0xF3, "EVENT": 0xF6, "BEEP": 0xE6,
    "SCAN_ENABLE": 0xE9, "SCAN_DISABLE": 0xEA, "START_DECODE": 0xE4, "STOP_DECODE": 0xE5,
    "PARAM_SEND": 0xC6, "PARAM_REQUEST": 0xC7, "PARAM_DEFAULTS": 0xC8, "REQUEST_REVISION": 0xA3,
    "REPLY_REVISION": 0xA4, "LED_ON": 0xE7, "LED_OFF": 0xE8, "SLEEP": 0xEB, "WAKEUP": 0xEC,
    "BATCH_REQUEST": 0xD5, "BATCH_DATA": 0xD6, "SSI_MGMT_COMMAND": 0x80,
}
OPCODE_NAMES = {v: k for k, v in OPCODES.items()}
NAK_RESEND, NAK_BAD_CONTEXT, NAK_DENIED = 0x01, 0x02, 0x06

#: SSI barcode type -> our symbology name (Zebra code type table, "Code Type IDs").
BARCODE_TYPES = {
    0x01: "code39", 0x02: "codabar", 0x03: "code128", 0x04: "d2of5", 0x05: "iata2of5",
    0x06: "itf", 0x07: "code93", 0x08: "upca", 0x09: "upce", 0x0A: "ean8", 0x0B: "ean13",
    0x0C: "code11", 0x0E: "msi", 0x0F: "gs1-128", 0x10: "upce1", 0x15: "trioptic39",
    0x16: "bookland", 0x17: "coupon", 0x23: "databar-limited", 0x24: "databar",
    0x25: "databar-expanded", 0x72: "chinese2of5",
}
SYMBOLOGY_TYPES = {v: k for k, v in BARCODE_TYPES.items()}


def checksum(body: bytes) -> int:
    """The SSI checksum of ``body`` (length … last data byte): ``(0x10000 - sum) & 0xFFFF``."""
    return (0x10000 - sum(body)) & 0xFFFF


def build_packet(opcode: int, data: bytes = b"", source: int = SOURCE_HOST, status: int = 0) -> bytes:
    """One SSI packet with its checksum (raises :class:`FrameError` when data is too long)."""
    if not 0 <= opcode <= 0xFF or not 0 <= source <= 0xFF or not 0 <= status <= 0xFF:
        raise FrameError("opcode, source and status are single bytes")
    if len(data) > 251:
        raise FrameError(f"SSI data is at most 251 bytes per packet, not {len(data)}")
    body = bytes([4 + len(data), opcode, source, status]) + bytes(data)
    return body + checksum(body).to_bytes(2, "big")


@dataclass(frozen=True)
class Packet:
    opcode: int
    source: int
    status: int
    data: bytes

    @property
    def name(self) -> str:
        return OPCODE_NAMES.get(self.opcode, f"0x{self.opcode:02X}")


def parse_packet(frame: bytes) -> Packet:
    """Parse exactly one packet (raises :class:`FrameError` with the reason)."""
    if len(frame) < 6:
        raise FrameError(f"SSI packet needs at least 6 bytes, got {len(frame)}")
    if frame[0] < 4 or frame[0] + 2 != len(frame):
        raise FrameError(f"length byte {frame[0]} does not match a {len(frame)}-byte packet")
    body, ck = frame[:-2], int.from_bytes(frame[-2:], "big")
    if checksum(body) != ck:
        raise FrameError(f"checksum {ck:04X}, expected {checksum(body):04X}")
    return Packet(frame[1], frame[2], frame[3], bytes(frame[4:-2]))


def ack() -> bytes:
    return build_packet(OPCODES["CMD_ACK"])


def nak(cause: int = NAK_RESEND) -> bytes:
    return build_packet(OPCODES["CMD_NAK"], bytes([cause]))


class SsiDecoder(ScannerDecoder):
    """Decoder for Zebra SSI scanners.

    Options: ``ack`` (default True: queue CMD_ACK/CMD_NAK replies, as the scanner expects unless
    its "ACK/NAK" parameter is off), ``encoding`` of the barcode characters (default ``utf-8``;
    ``gbk``, ``latin-1`` or ``ascii`` when the scanner is set so).  Data that does not decode is
    refused, never guessed.

    Command replies from the scanner (CMD_ACK, CMD_NAK, REPLY_REVISION, PARAM_SEND …) are kept in
    :attr:`responses` (a list of :class:`Packet`) for the device layer.
    """

    name = "ssi"
    summary = "Zebra SSI: binary packets with checksum, ACK/NAK, DECODE_DATA"
    transport = "serial"

    def __init__(self, device_id: str = "scanner", *, ack: bool = True, encoding: str = "utf-8",
                 clock=None):
        super().__init__(device_id, clock=clock)
        if encoding not in ("latin-1", "utf-8", "gbk", "ascii"):
            raise ScannerOptionError(f"encoding must be latin-1, utf-8, gbk or ascii, not {encoding!r}")
        self.ack, self.encoding = bool(ack), encoding
        self.responses: list[Packet] = []
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._part_type: int | None = None
        self._last_message: bytes | None = None

    def reset(self) -> None:
        self._buf.clear()
        self._parts, self._part_type = [], None

    def _valid_at(self, i: int) -> int:
        """Length of a complete valid packet at ``i``; 0 if none; -1 if one may still be arriving."""
        buf = self._buf
        n = buf[i]
        if n < 4 or (len(buf) > i + 2 and buf[i + 2] not in (SOURCE_DECODER, SOURCE_HOST)):
            return 0
        if len(buf) - i < n + 2:
            return -1
        body = bytes(buf[i:i + n])
        return n + 2 if checksum(body) == int.from_bytes(buf[i + n:i + n + 2], "big") else 0

    def _feed(self, data: bytes) -> list[Read]:
        self._buf += data
        reads: list[Read] = []
        while self._buf:
            pending = None
            found = None
            for i in range(len(self._buf)):
                size = self._valid_at(i)
                if size > 0:
                    found = (i, size)
                    break
                if size < 0 and pending is None:
                    pending = i
            if found is None:
                # Keep from the first position where a packet may still be arriving.
                keep = pending if pending is not None else len(self._buf)
                if keep:
                    self._skip(keep)
                break
            i, size = found
            if i:
                self._skip(i)
            frame = bytes(self._buf[:size])
            del self._buf[:size]
            read = self._packet(parse_packet(frame))
            if read is not None:
                reads.append(read)
        return reads

    def _skip(self, n: int) -> None:
        buf = self._buf
        # A whole packet from the scanner with a bad checksum: ask for it again.
        corrupt = n >= 6 and buf[0] >= 4 and buf[0] + 2 <= n and buf[1] in OPCODE_NAMES \
            and buf[2] == SOURCE_DECODER
        self._bad("corrupt packet (bad checksum)" if corrupt else f"{n} byte(s) of noise skipped", n)
        del buf[:n]
        if corrupt and self.ack:
            self._replies.append(nak(NAK_RESEND))

    def _packet(self, p: Packet) -> Read | None:
        if p.source != SOURCE_DECODER:
            return None                      # our own packets echoed back (loopback wiring)
        if p.opcode == OPCODES["DECODE_DATA"]:
            if self.ack:
                self._replies.append(ack())
            return self._decode_data(p)
        if p.opcode == OPCODES["EVENT"] and self.ack:
            self._replies.append(ack())
        self.responses.append(p)
        del self.responses[:-32]
        return None

    def _decode_data(self, p: Packet) -> Read | None:
        if not p.data:
            self._bad("DECODE_DATA without a barcode type")
            return None
        key = bytes([p.status & ~STATUS_RETRANSMIT & 0xFF]) + p.data
        if p.status & STATUS_RETRANSMIT and key == self._last_message:
            self.stats["retransmits"] = self.stats.get("retransmits", 0) + 1
            return None                      # our ACK was lost: already delivered
        self._last_message = key
        if self._parts and p.data[0] != self._part_type:
            self._bad("continuation packet of another barcode type")
            self._parts = []
        self._parts.append(p.data[1:])
        self._part_type = p.data[0]
        if p.status & STATUS_CONTINUATION:
            return None
        raw, self._parts = b"".join(self._parts), []
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError:
            self._bad(f"barcode data is not valid {self.encoding}", len(raw))
            return None
        if not text:
            self._bad("empty barcode data")
            return None
        return self._read(text, BARCODE_TYPES.get(p.data[0]))

