"""SMS PDUs (3GPP TS 23.040 / 23.038), pure: text in, hex out, and back.

* :func:`encode_submit` — an SMS-SUBMIT for one recipient: GSM 7-bit default alphabet when the
  text fits it (with the extension table: ``€ [ ] { } \\ ^ ~ |`` take two septets), else UCS2
  (UTF-16BE, so Chinese); longer texts become concatenated parts with a user data header
  (IEI 0x00, 8-bit reference): 153 septets or 67 UCS2 characters per part (160 / 70 alone).
  Each part is a :class:`SubmitPdu` whose ``hex`` starts with ``00`` (the modem's stored SMSC)
  and whose ``tpdu_length`` is what ``AT+CMGS=`` wants (octets after the SMSC field).
* :func:`decode_status_report` — an SMS-STATUS-REPORT (what ``+CDS`` carries): message
  reference, recipient, status (``delivered``, ``pending`` for temporary states, ``failed``).
* :func:`decode_deliver` — an incoming SMS-DELIVER (sender, text, concatenation header).

Every decoder raises :class:`PduError` (never anything else) on malformed input.
"""
from __future__ import annotations

from dataclasses import dataclass

from drivers.gsm_modem.errors import PduError

# The GSM 03.38 default alphabet, code point = index; 0x1B is the escape to the extension table.
GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXT = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
            "|": 0x40, "€": 0x65}
_GSM7_INDEX = {c: i for i, c in enumerate(GSM7) if c != "\x1b"}
_GSM7_EXT_REV = {v: k for k, v in GSM7_EXT.items()}

GSM7_SINGLE, GSM7_PART = 160, 153       # septets
UCS2_SINGLE, UCS2_PART = 70, 67         # UTF-16 code units
MAX_PARTS = 255

# TP-VP (relative): 0xA7 = 24 hours.
VALIDITY_24H = 0xA7


@dataclass(frozen=True)
class SubmitPdu:
    """One part of an outgoing message: ``hex`` for the modem, ``tpdu_length`` for AT+CMGS."""
    hex: str
    tpdu_length: int
    part: int          # 1-based
    parts: int
    text: str          # the text this part carries


@dataclass(frozen=True)
class StatusReport:
    """A delivery report: ``reference`` (TP-MR of the part it reports), ``recipient``,
    ``status`` (``delivered``, ``pending`` or ``failed``), ``code`` (TP-ST), the service
    centre's times as text (``YYMMDDhhmmss±zz`` quarter hours)."""
    reference: int
    recipient: str
    status: str
    code: int
    submitted: str
    discharged: str


@dataclass(frozen=True)
class Deliver:
    """An incoming message (one part): sender, text, and (reference, parts, part) when concatenated."""
    sender: str
    text: str
    concat: tuple[int, int, int] | None


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return all(c in _GSM7_INDEX or c in GSM7_EXT for c in text)


def gsm7_septets(text: str) -> list[int]:
    """``text`` as septet values (extension characters as ESC + code)."""
    out = []
    for c in text:
        if c in _GSM7_INDEX:
            out.append(_GSM7_INDEX[c])
        elif c in GSM7_EXT:
            out += [0x1B, GSM7_EXT[c]]
        else:
            raise PduError(f"character {c!r} is not in the GSM 7-bit alphabet")
    return out


def septets_text(septets: list[int]) -> str:
    out, esc = [], False
    for s in septets:
        if esc:
            out.append(_GSM7_EXT_REV.get(s, " "))
            esc = False
        elif s == 0x1B:
            esc = True
        else:
            out.append(GSM7[s])
    return "".join(out)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets little-endian into octets, after ``fill_bits`` zero bits (to align after a UDH)."""
    acc, nbits, out = 0, fill_bits, bytearray()
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


def encode_number(number: str) -> bytes:
    """TP-DA / TP-RA: digit count, type of address (0x91 international with ``+``, else 0x81), BCD."""
    digits = number[1:] if number.startswith("+") else number
    if not digits or not digits.isdigit() or not digits.isascii() or len(digits) > 20:
        raise PduError(f"bad phone number {number!r} (digits, optionally after +, at most 20)")
    toa = 0x91 if number.startswith("+") else 0x81
    padded = digits + ("F" if len(digits) % 2 else "")
    bcd = bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
    return bytes([len(digits), toa]) + bcd


def decode_number(data: bytes, pos: int) -> tuple[str, int]:
    """(number, next position) from an address field at ``pos``."""
    ndigits, toa = data[pos], data[pos + 1]
    nbytes = (ndigits + 1) // 2
    raw = data[pos + 2:pos + 2 + nbytes]
    if len(raw) != nbytes:
        raise PduError("address runs past the end of the PDU")
    if toa & 0x70 == 0x50:                                   # alphanumeric sender
        number = septets_text(unpack_septets(raw, ndigits * 4 // 7))
    else:
        digits = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in raw)[:ndigits]
        number = ("+" if toa & 0x70 == 0x10 else "") + digits
    return number, pos + 2 + nbytes


def _split_units(text: str, ucs2: bool) -> list[str]:
    """Split ``text`` into parts that each fit one PDU, never inside an escape or a surrogate pair."""
    if ucs2:
        units = len(text.encode("utf-16-be")) // 2
        single, per = UCS2_SINGLE, UCS2_PART
        size = lambda c: 2 if ord(c) > 0xFFFF else 1     # noqa: E731
    else:
        units = len(gsm7_septets(text))
        single, per = GSM7_SINGLE, GSM7_PART
        size = lambda c: 2 if c in GSM7_EXT else 1       # noqa: E731
    if units <= single:
        return [text]
    parts, cur, n = [], [], 0
    for c in text:
        if n + size(c) > per:
            parts.append("".join(cur))
            cur, n = [], 0
        cur.append(c)
        n += size(c)
    if cur:
        parts.append("".join(cur))
    return parts


def encode_submit(number: str, text: str, *, reference: int = 0, status_report: bool = True,
                  validity: int = VALIDITY_24H) -> list[SubmitPdu]:
    """The SMS-SUBMIT PDUs that send ``text`` to ``number``; ``reference`` (0-255) ties the parts
    of a concatenated message together.  Raises :class:`PduError` for a bad number, an empty
    text or one longer than 255 parts."""
    if not text:
        raise PduError("an empty message cannot be sent")
    if not 0 <= reference <= 255:
        raise PduError("the concatenation reference is 0-255")
    ucs2 = not is_gsm7(text)
    chunks = _split_units(text, ucs2)
    if len(chunks) > MAX_PARTS:
        raise PduError(f"message too long: {len(chunks)} parts (at most {MAX_PARTS})")
    da = encode_number(number)
    out = []
    for i, chunk in enumerate(chunks, 1):
        udh = bytes([5, 0x00, 3, reference, len(chunks), i]) if len(chunks) > 1 else b""
        first = 0x01 | 0x10 | (0x20 if status_report else 0) | (0x40 if udh else 0)
        if ucs2:
            body = chunk.encode("utf-16-be")
            ud, udl, dcs = udh + body, len(udh) + len(body), 0x08
        else:
            septets = gsm7_septets(chunk)
            fill = (7 - (len(udh) * 8) % 7) % 7 if udh else 0
            ud = udh + pack_septets(septets, fill)
            udl, dcs = (len(udh) * 8 + fill) // 7 + len(septets), 0x00
        tpdu = bytes([first, 0x00]) + da + bytes([0x00, dcs, validity, udl]) + ud
        out.append(SubmitPdu(hex="00" + tpdu.hex().upper(), tpdu_length=len(tpdu), part=i,
                             parts=len(chunks), text=chunk))
    return out


def _hex(pdu_hex: str) -> bytes:
    try:
        return bytes.fromhex(pdu_hex.strip())
    except ValueError:
        raise PduError(f"not a hex PDU: {pdu_hex[:40]!r}") from None


def _skip_smsc(data: bytes) -> int:
    if not data:
        raise PduError("empty PDU")
    return 1 + data[0]


def _scts(raw: bytes) -> str:
    if len(raw) != 7:
        raise PduError("truncated time stamp")
    return "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in raw)


def decode_status_report(pdu_hex: str) -> StatusReport:
    """An SMS-STATUS-REPORT as ``+CDS`` delivers it (with its SMSC field)."""
    data = _hex(pdu_hex)
    try:
        pos = _skip_smsc(data)
        first = data[pos]
        if first & 0x03 != 0x02:
            raise PduError(f"not a status report (TP-MTI {first & 3})")
        mr = data[pos + 1]
        recipient, pos = decode_number(data, pos + 2)
        submitted, discharged = _scts(data[pos:pos + 7]), _scts(data[pos + 7:pos + 14])
        st = data[pos + 14]
    except IndexError:
        raise PduError("truncated status report") from None
    status = "delivered" if st < 0x20 else "pending" if st < 0x40 else "failed"
    return StatusReport(mr, recipient, status, st, submitted, discharged)


def decode_deliver(pdu_hex: str) -> Deliver:
    """An incoming SMS-DELIVER (with its SMSC field)."""
    data = _hex(pdu_hex)
    try:
        pos = _skip_smsc(data)
        first = data[pos]
        if first & 0x03 != 0x00:
            raise PduError(f"not an SMS-DELIVER (TP-MTI {first & 3})")
        sender, pos = decode_number(data, pos + 1)
        dcs = data[pos + 1]
        _scts(data[pos + 2:pos + 9])
        udl = data[pos + 9]
        ud = data[pos + 10:]
        udh, concat = b"", None
        if first & 0x40:
            udh = ud[:1 + ud[0]]
            if len(udh) != 1 + ud[0]:
                raise PduError("truncated user data header")
            i = 1
            while i + 1 < len(udh):
                iei, ln = udh[i], udh[i + 1]
                el = udh[i + 2:i + 2 + ln]
                if iei == 0x00 and ln == 3:
                    concat = (el[0], el[1], el[2])
                elif iei == 0x08 and ln == 4:
                    concat = (el[0] << 8 | el[1], el[2], el[3])
                i += 2 + ln
        alphabet = (dcs >> 2) & 0x03 if dcs & 0xC0 == 0 else 0
        if alphabet == 2:
            text = ud[len(udh):udl].decode("utf-16-be", errors="replace")
        elif alphabet == 0:
            fill = (7 - (len(udh) * 8) % 7) % 7 if udh else 0
            skip = (len(udh) * 8 + fill) // 7
            if (udl * 7 + 7) // 8 > len(ud):
                raise PduError("user data shorter than its length says")
            text = septets_text(unpack_septets(ud[len(udh):], udl - skip, fill))
        else:
            text = ud[len(udh):udl].hex()
    except IndexError:
        raise PduError("truncated SMS-DELIVER") from None
    return Deliver(sender, text, concat)
