"""The AT response decoder (pure): modem bytes in, :class:`Item` list out (3GPP TS 27.005 / 27.007).

``ATDecoder.feed(data)`` takes any slice of what the modem sends (lines split or glued together,
noise between them) and returns the items it completes; it never raises.  Items:

``Item("final", "OK")``, ``Item("final", "ERROR")``, ``Item("final", "+CMS ERROR: 500", code=500)``,
``Item("final", "+CME ERROR: 10", code=10)``
    the end of a command's answer.
``Item("prompt", "> ")``
    ``AT+CMGS`` waits for the PDU (the prompt ends with no line break).
``Item("line", "+CSQ: 20,0")``
    an information line of the running command (also the echo of a command, when echo is on).
``Item("cds", "<pdu hex>", length=n)``
    a delivery report, ``+CDS: <length>`` followed by the PDU on the next line (unsolicited).
``Item("unsolicited", "+CREG: 1")``
    other unsolicited result codes: ``+CREG: <stat>`` (one value; the answer to ``AT+CREG?`` has
    two), ``+CMTI``, ``+CDSI``, ``RING``, ``+CMT`` (its PDU line in ``extra``).

Helpers parse the information lines: :func:`parse_csq`, :func:`parse_creg`, :func:`parse_cmgs`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FINALS = ("OK", "ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER")
_ERR = re.compile(r"^\+(CMS|CME) ERROR:\s*(.*)$")
_UNSOLICITED = ("+CMTI:", "+CDSI:", "RING", "+CBM:", "+CUSD:", "^", "+CIEV:")
MAX_LINE = 4096

REGISTRATION = {0: "not registered", 1: "registered (home)", 2: "searching", 3: "denied", 4: "unknown",
                5: "registered (roaming)"}


@dataclass(frozen=True)
class Item:
    kind: str
    text: str
    code: int | None = None
    length: int | None = None


class ATDecoder:
    """Line framing of a modem's answers; see the module docstring."""

    def __init__(self):
        self.bad_frames = 0
        self.reset()

    def reset(self) -> None:
        self._buf = bytearray()
        self._await_pdu: str | None = None      # "cds" / "cmt" when the next line is a PDU
        self._pdu_len = 0

    def feed(self, data: bytes) -> list[Item]:
        out: list[Item] = []
        self._buf += data
        while True:
            buf = self._buf
            # the CMGS prompt: "> " with no line end (after optional CR LF)
            stripped = buf.lstrip(b"\r\n")
            if stripped.startswith(b"> ") and self._await_pdu is None:
                del buf[:len(buf) - len(stripped) + 2]
                out.append(Item("prompt", "> "))
                continue
            idx = min((i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0), default=-1)
            if idx < 0:
                if len(buf) > MAX_LINE:
                    self.bad_frames += 1
                    buf.clear()
                break
            raw = bytes(buf[:idx])
            del buf[:idx + 1]
            if not raw.strip():
                continue
            try:
                line = raw.decode("ascii").strip()
            except UnicodeDecodeError:
                self.bad_frames += 1
                self._await_pdu = None
                continue
            item = self._line(line)
            if item is not None:
                out.append(item)
        return out

    def _line(self, line: str) -> Item | None:
        if self._await_pdu is not None:
            kind, self._await_pdu = self._await_pdu, None
            if re.fullmatch(r"[0-9A-Fa-f]+", line) and len(line) % 2 == 0:
                return Item(kind, line.upper(), length=self._pdu_len)
            self.bad_frames += 1
            # not a PDU after all: read it as an ordinary line
        if line in FINALS:
            return Item("final", line)
        m = _ERR.match(line)
        if m:
            code = int(m.group(2)) if m.group(2).strip().isdigit() else None
            return Item("final", line, code=code)
        for head, kind in (("+CDS:", "cds"), ("+CMT:", "cmt")):
            if line.startswith(head):
                tail = line[len(head):].split(",")[-1].strip()
                if tail.isdigit():
                    self._await_pdu, self._pdu_len = kind, int(tail)
                    return None
                self.bad_frames += 1
                return None
        if line.startswith("+CREG:") and "," not in line:
            return Item("unsolicited", line)
        if line.startswith(_UNSOLICITED):
            return Item("unsolicited", line)
        return Item("line", line)


def _values(line: str, head: str) -> list[str]:
    if not line.startswith(head):
        raise ValueError(f"expected {head} in {line!r}")
    return [v.strip().strip('"') for v in line[len(head):].split(",")]


def parse_csq(line: str) -> tuple[int | None, int | None]:
    """``+CSQ: <rssi>,<ber>`` → (dBm or None when unknown (99), ber or None)."""
    rssi, ber = (int(v) for v in _values(line, "+CSQ:")[:2])
    return (None if rssi == 99 else -113 + 2 * rssi), (None if ber == 99 else ber)


def parse_creg(line: str) -> int:
    """``+CREG: <n>,<stat>[,…]`` or ``+CREG: <stat>`` → stat (see ``REGISTRATION``)."""
    vals = _values(line, "+CREG:")
    return int(vals[0] if len(vals) in (1, 3) else vals[1])


def parse_cmgs(line: str) -> int:
    """``+CMGS: <mr>`` → the message reference (0-255)."""
    return int(_values(line, "+CMGS:")[0])
