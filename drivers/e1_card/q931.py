"""Q.931 messages and the information elements a basic PRI call needs, as pure codecs.

Message layout: protocol discriminator 0x08, call reference (length octet, then the value;
the top bit of the first value octet is the *flag*: 0 from the side that allocated the
reference, 1 from the other side), message type, then information elements: single-octet
IEs have bit 8 set, the others are ``id, length, contents``.

IE helpers build and read: bearer capability (speech / 3.1 kHz / 64 kbit/s unrestricted,
A-law), channel identification (PRI, B channel by number, preferred or exclusive), calling
and called party numbers (type of number, numbering plan, presentation), cause (location,
value), progress indicator, restart indicator, call state, sending complete.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Q931Error

PD_Q931 = 0x08

MESSAGES = {
    0x01: "ALERTING", 0x02: "CALL PROCEEDING", 0x03: "PROGRESS", 0x05: "SETUP",
    0x07: "CONNECT", 0x0D: "SETUP ACKNOWLEDGE", 0x0F: "CONNECT ACKNOWLEDGE",
    0x45: "DISCONNECT", 0x4D: "RELEASE", 0x5A: "RELEASE COMPLETE", 0x46: "RESTART",
    0x4E: "RESTART ACKNOWLEDGE", 0x7D: "STATUS", 0x75: "STATUS ENQUIRY", 0x7B: "INFORMATION",
    0x6E: "NOTIFY", 0x62: "FACILITY",
}
MT = {name.replace(" ", "_"): code for code, name in MESSAGES.items()}

IE_NAMES = {0x04: "bearer capability", 0x08: "cause", 0x14: "call state", 0x18: "channel identification",
            0x1C: "facility", 0x1E: "progress indicator", 0x27: "notification indicator", 0x28: "display",
            0x6C: "calling party number", 0x70: "called party number", 0x79: "restart indicator",
            0x7C: "low layer compatibility", 0x7D: "high layer compatibility", 0x7E: "user-user",
            0xA1: "sending complete"}
IE = {"BEARER": 0x04, "CAUSE": 0x08, "CALL_STATE": 0x14, "CHANNEL_ID": 0x18, "PROGRESS": 0x1E,
      "DISPLAY": 0x28, "CALLING": 0x6C, "CALLED": 0x70, "RESTART": 0x79, "SENDING_COMPLETE": 0xA1}

CAUSES = {1: "unallocated number", 16: "normal clearing", 17: "user busy", 18: "no user responding",
          19: "no answer", 21: "call rejected", 27: "destination out of order",
          31: "normal, unspecified", 34: "no circuit/channel available", 41: "temporary failure",
          42: "switching equipment congestion", 44: "requested channel not available",
          81: "invalid call reference", 96: "mandatory information element missing",
          97: "message type non-existent", 100: "invalid information element contents",
          101: "message not compatible with call state", 102: "recovery on timer expiry"}


@dataclass
class Message:
    """A Q.931 message.  ``ies`` is a list of (id, contents) in message order."""

    type: int
    cref: int
    flag: int = 0
    ies: list[tuple[int, bytes]] = field(default_factory=list)
    cref_len: int = 2

    @property
    def name(self) -> str:
        return MESSAGES.get(self.type, f"0x{self.type:02X}")

    def ie(self, ie_id: int) -> bytes | None:
        for i, v in self.ies:
            if i == ie_id:
                return v
        return None

    def add(self, ie_id: int, contents: bytes = b"") -> "Message":
        self.ies.append((ie_id, bytes(contents)))
        return self

    def encode(self) -> bytes:
        if not 0 <= self.type <= 0x7F:
            raise Q931Error(f"message type 0x{self.type:02X} out of range")
        out = bytearray((PD_Q931, self.cref_len))
        if self.cref_len:
            if not 0 <= self.cref < (1 << (8 * self.cref_len - 1)):
                raise Q931Error(f"call reference {self.cref} does not fit {self.cref_len} octets")
            v = self.cref | ((self.flag & 1) << (8 * self.cref_len - 1))
            out += v.to_bytes(self.cref_len, "big")
        out.append(self.type)
        for ie_id, contents in self.ies:
            if ie_id & 0x80:
                out.append(ie_id)  # single-octet IE (contents folded into the id octet)
            else:
                if len(contents) > 255:
                    raise Q931Error(f"IE 0x{ie_id:02X} longer than 255 octets")
                out += bytes((ie_id, len(contents))) + contents
        return bytes(out)


def decode(data: bytes) -> Message:
    """Decode a Q.931 message; raises :class:`Q931Error` with the reason when malformed."""
    if len(data) < 3:
        raise Q931Error(f"Q.931 message too short ({len(data)} octets)")
    if data[0] != PD_Q931:
        raise Q931Error(f"protocol discriminator 0x{data[0]:02X} is not Q.931 (0x08)")
    crl = data[1] & 0x0F
    if crl > 2 or len(data) < 3 + crl:
        raise Q931Error(f"bad call reference length {crl}")
    flag, cref = 0, 0
    if crl:
        v = int.from_bytes(data[2:2 + crl], "big")
        flag = v >> (8 * crl - 1)
        cref = v & ((1 << (8 * crl - 1)) - 1)
    mt = data[2 + crl]
    if mt & 0x80:
        raise Q931Error(f"message type octet 0x{mt:02X} has bit 8 set")
    msg = Message(mt, cref, flag, cref_len=crl)
    i = 3 + crl
    while i < len(data):
        ie_id = data[i]
        if ie_id & 0x80:
            msg.ies.append((ie_id, b""))
            i += 1
            continue
        if i + 1 >= len(data):
            raise Q931Error(f"IE 0x{ie_id:02X} truncated (no length)")
        n = data[i + 1]
        if i + 2 + n > len(data):
            raise Q931Error(f"IE 0x{ie_id:02X} truncated ({n} octets announced)")
        msg.ies.append((ie_id, bytes(data[i + 2:i + 2 + n])))
        i += 2 + n
    return msg


# ------------------------------------------------------------------------------ IE builders
CAP_SPEECH, CAP_DIGITAL, CAP_AUDIO_3K1 = 0x00, 0x08, 0x10
LAYER1_ALAW = 0x03


def bearer_capability(capability: int = CAP_SPEECH, alaw: bool = True) -> bytes:
    out = bytes((0x80 | capability, 0x90))  # ITU-T coding; circuit mode, 64 kbit/s
    if capability != CAP_DIGITAL and alaw:
        out += bytes((0xA0 | LAYER1_ALAW,))  # layer 1, G.711 A-law
    return out


def parse_bearer(b: bytes) -> dict:
    if len(b) < 2:
        raise Q931Error("bearer capability shorter than 2 octets")
    d = {"capability": b[0] & 0x1F, "rate": b[1] & 0x1F}
    if len(b) >= 3 and (b[2] & 0x60) == 0x20:
        d["layer1"] = b[2] & 0x1F
    return d


def channel_id(channel: int, exclusive: bool = True) -> bytes:
    """PRI channel identification for B channel ``channel`` (timeslot number)."""
    if not 1 <= channel <= 31 or channel == 16:
        raise Q931Error(f"B channel {channel} is not a PRI bearer timeslot")
    return bytes((0xA1 | (0x08 if exclusive else 0), 0x83, 0x80 | channel))


def parse_channel_id(b: bytes) -> tuple[int | None, bool]:
    """-> (channel or None for 'any', exclusive)."""
    if not b:
        raise Q931Error("empty channel identification")
    o3 = b[0]
    exclusive = bool(o3 & 0x08)
    if not o3 & 0x20:
        raise Q931Error("channel identification is not for a primary rate interface")
    sel = o3 & 0x03
    if sel == 0:
        return None, exclusive  # no channel
    if sel == 3:
        return None, exclusive  # any channel
    if o3 & 0x40:
        raise Q931Error("explicit interface identifiers are not supported")
    if len(b) < 3:
        raise Q931Error("channel identification without a channel number")
    if b[1] & 0x10:
        raise Q931Error("channel maps are not supported, only channel numbers")
    return b[2] & 0x7F, exclusive


TON_UNKNOWN, TON_INTERNATIONAL, TON_NATIONAL, TON_SUBSCRIBER = 0, 1, 2, 4
NPI_UNKNOWN, NPI_ISDN = 0, 1


def _digits_ok(digits: str) -> bytes:
    if not digits or any(c not in "0123456789*#" for c in digits):
        raise Q931Error(f"a party number is digits, * or #: {digits!r}")
    return digits.encode("ascii")


def called_number(digits: str, ton: int = TON_UNKNOWN, npi: int = NPI_ISDN) -> bytes:
    return bytes((0x80 | (ton << 4) | npi,)) + _digits_ok(digits)


def calling_number(digits: str, ton: int = TON_UNKNOWN, npi: int = NPI_ISDN,
                   presentation: int = 0, screening: int = 0) -> bytes:
    return bytes(((ton << 4) | npi, 0x80 | (presentation << 5) | screening)) + _digits_ok(digits)


def parse_number(b: bytes) -> dict:
    if not b:
        raise Q931Error("empty party number")
    d = {"ton": (b[0] >> 4) & 7, "npi": b[0] & 0x0F, "presentation": 0, "screening": 0}
    i = 1
    if not b[0] & 0x80:
        if len(b) < 2:
            raise Q931Error("party number octet 3a missing")
        d["presentation"] = (b[1] >> 5) & 3
        d["screening"] = b[1] & 3
        i = 2
    try:
        d["digits"] = b[i:].decode("ascii")
    except UnicodeDecodeError:
        raise Q931Error("party number digits are not IA5") from None
    return d


LOC_USER, LOC_PRIVATE_LOCAL, LOC_PUBLIC_LOCAL = 0, 1, 2


def cause(value: int, location: int = LOC_PRIVATE_LOCAL) -> bytes:
    if not 0 < value < 128:
        raise Q931Error(f"cause value {value} outside 1..127")
    return bytes((0x80 | location, 0x80 | value))


def parse_cause(b: bytes) -> tuple[int, int]:
    """-> (cause value, location)."""
    if len(b) < 2:
        raise Q931Error("cause IE shorter than 2 octets")
    i = 1 if b[0] & 0x80 else 2
    if len(b) <= i:
        raise Q931Error("cause IE without a cause value")
    return b[i] & 0x7F, b[0] & 0x0F


def progress(description: int = 8, location: int = LOC_PRIVATE_LOCAL) -> bytes:
    return bytes((0x80 | location, 0x80 | description))


def restart_indicator(klass: int = 7) -> bytes:
    """0 = indicated channels, 6 = single interface, 7 = all interfaces."""
    return bytes((0x80 | klass,))


def call_state(state: int) -> bytes:
    return bytes((state & 0x3F,))


def describe(msg: Message) -> str:
    """One trace line: ``SETUP cref=1/0 called=95546 calling=139… ch=1!``."""
    parts = [msg.name, f"cref={msg.cref}/{msg.flag}"]
    for ie_id, v in msg.ies:
        try:
            if ie_id == IE["CALLED"]:
                parts.append("called=" + parse_number(v)["digits"])
            elif ie_id == IE["CALLING"]:
                parts.append("calling=" + parse_number(v)["digits"])
            elif ie_id == IE["CHANNEL_ID"]:
                ch, ex = parse_channel_id(v)
                parts.append(f"ch={ch if ch is not None else 'any'}{'!' if ex else '?'}")
            elif ie_id == IE["CAUSE"]:
                c, _ = parse_cause(v)
                parts.append(f"cause={c} ({CAUSES.get(c, '?')})")
            else:
                parts.append(IE_NAMES.get(ie_id, f"ie0x{ie_id:02X}"))
        except Q931Error as exc:
            parts.append(f"<bad IE 0x{ie_id:02X}: {exc}>")
    return " ".join(parts)
