"""Honeywell serial guns: reads like a ``serial`` gun, plus menu commands to read and set settings.

Menu command (Honeywell user guides, "Serial Programming Commands")::

    SYN M CR  tag subtag data [, subtag data] [; tag subtag data] …  storage

``SYN M CR`` is ``16 4D 0D``; tag and subtag are 3 characters each (``232`` + ``BAD`` = RS-232 baud
rate); data is the new value, or a query: ``?`` current value, ``^`` default value, ``*`` range;
storage is ``!`` (volatile, lost at power-off) or ``.`` (stored).  The device echoes the command
with a status byte inserted before each punctuation mark: ACK ``06`` done, ENQ ``05`` unknown
tag/subtag, NAK ``15`` value out of range.  Example: ``16 4D 0D "cbrena?."`` ->
``"CBRENA1" 06 "."``; ``"232BAD5."`` -> ``"232BAD5" 06 "."``.

The decoder tells menu replies from reads only while a command is outstanding
(:meth:`HoneywellDecoder.expect_reply`, called by the device layer before it writes one), so a
barcode that happens to contain ``06 2E`` is never taken for a reply.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.scanner.errors import CommandError, FrameError
from drivers.scanner.read import Read
from drivers.scanner.serial_gun import SerialGunDecoder

PREFIX = b"\x16M\r"
ACK, ENQ, NAK = 0x06, 0x05, 0x15
STATUS_NAMES = {ACK: "ack", ENQ: "enq", NAK: "nak"}
_END_RE = re.compile(rb"[\x06\x05\x15][.!]")
_ITEM_RE = re.compile(rb"([^\x06\x05\x15]*)([\x06\x05\x15])([.!,;])")
_ITEM_TEXT_RE = re.compile(r"[A-Za-z0-9]{3}[A-Za-z0-9?^*]{1,3}.*|[?^*]", re.S)


@dataclass(frozen=True)
class MenuItem:
    """One setting in a reply: ``tag`` + ``subtag`` (upper case), ``data`` and ``status``."""

    tag: str
    subtag: str
    data: str
    status: str          # "ack" | "enq" | "nak"

    @property
    def name(self) -> str:
        return self.tag + self.subtag


@dataclass(frozen=True)
class MenuReply:
    items: tuple[MenuItem, ...]
    storage: str         # "!" or "."
    raw: bytes

    @property
    def ok(self) -> bool:
        return all(i.status == "ack" for i in self.items)


def menu_command(items: list[str] | str, storage: str = "!") -> bytes:
    """``SYN M CR`` + the items joined by ``;`` + storage; items are ``TAGSUBDATA`` strings."""
    if isinstance(items, str):
        items = [items]
    if storage not in ("!", "."):
        raise CommandError("storage must be '!' (volatile) or '.' (stored)")
    if not items:
        raise CommandError("a menu command needs at least one item")
    for item in items:
        if not isinstance(item, str) or not _ITEM_TEXT_RE.fullmatch(item) or any(
                c in item for c in ".!,;\r\n\x16") or not item.isascii():
            raise CommandError(f"bad menu item {item!r}: tag(3) subtag(3) data, e.g. 232BAD5 or 232BAD?")
    return PREFIX + ";".join(items).encode("ascii") + storage.encode()


def parse_reply(raw: bytes) -> MenuReply:
    """Parse a reply such as ``b"CBRENA1\\x06,SSX0\\x06."`` (raises :class:`FrameError`)."""
    body = raw[len(PREFIX):] if raw.startswith(PREFIX) else raw
    items, tag, pos = [], None, 0
    sep = ";"
    for m in _ITEM_RE.finditer(body):
        if m.start() != pos:
            raise FrameError(f"unparsable menu reply {raw!r}")
        pos = m.end()
        try:
            text = m.group(1).decode("ascii")
        except UnicodeDecodeError as e:
            raise FrameError(f"non-ASCII menu reply {raw!r}") from e
        if sep == ";" or tag is None:
            if len(text) < 3:
                raise FrameError(f"menu reply item {text!r} has no tag")
            tag, text = text[:3].upper(), text[3:]
        subtag, data = text[:3].upper(), text[3:]
        items.append(MenuItem(tag, subtag, data, STATUS_NAMES[m.group(2)[0]]))
        sep = m.group(3).decode()
    if pos != len(body) or not items or sep not in ".!":
        raise FrameError(f"unparsable menu reply {raw!r}")
    return MenuReply(tuple(items), sep, bytes(raw))


class HoneywellDecoder(SerialGunDecoder):
    """Reads as a ``serial`` gun (same options) plus menu replies in :attr:`menu_replies`."""

    name = "honeywell"
    summary = "Honeywell serial guns: reads plus SYN M CR menu commands"
    transport = "serial"
    serial_settings = {"baudrate": 115200, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, device_id: str = "scanner", **options):
        super().__init__(device_id, **options)
        self.menu_replies: list[MenuReply] = []
        self.awaiting = 0

    def expect_reply(self) -> None:
        """A command is about to be written: the next ``…<status>.`` or ``…<status>!`` is its reply."""
        self.awaiting += 1

    def reset(self) -> None:
        super().reset()
        self.awaiting = 0

    def _feed(self, data: bytes) -> list[Read]:
        self._buf += data
        if not self.awaiting:
            return self._drain()
        reads: list[Read] = []
        while self.awaiting:
            while (i := self._buf.find(PREFIX)) >= 0:
                del self._buf[i:i + len(PREFIX)]
            m = _END_RE.search(self._buf)
            if m is None:
                break
            head = self._buf[:m.start()]
            start = max(head.rfind(b"\r"), head.rfind(b"\n")) + 1
            raw = bytes(self._buf[start:m.end()])
            tail = bytes(self._buf[m.end():])
            del self._buf[start:]
            reads += self._drain()           # reads that came before the reply
            self._buf = bytearray(tail)
            self.awaiting -= 1
            try:
                self.menu_replies.append(parse_reply(raw))
            except FrameError as e:
                self._bad(str(e), len(raw))
        return reads + self._drain()
