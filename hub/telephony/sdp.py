"""SDP (RFC 4566) for one audio stream, and the offer/answer choice of RFC 3264.

We speak G.711 only: PCMA (payload type 8) and PCMU (0), plus RFC 4733 ``telephone-event``
(dynamic, usually 101).  :func:`answer` picks the first codec of the offer that we support (the
offerer's preference, §6.1), keeps telephone-event when offered, and refuses an offer without a
G.711 codec (the caller then gets ``488 Not Acceptable Here``).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from hub.telephony.errors import SipParseError

STATIC = {0: "PCMU", 8: "PCMA"}
CODECS = ("PCMA", "PCMU")


@dataclass
class Audio:
    """The audio stream of an SDP body."""

    host: str
    port: int
    payloads: list[int]                                 # in the offerer's order of preference
    rtpmap: dict[int, str] = field(default_factory=dict)  # pt -> "PCMA/8000"
    direction: str = "sendrecv"
    ptime: int = 20

    def codec(self, pt: int) -> str:
        name = self.rtpmap.get(pt) or (f"{STATIC[pt]}/8000" if pt in STATIC else "")
        return name.split("/")[0].upper()

    @property
    def telephone_event(self) -> int | None:
        for pt in self.payloads:
            if self.codec(pt) == "TELEPHONE-EVENT":
                return pt
        return None

    @property
    def first_g711(self) -> int | None:
        for pt in self.payloads:
            if self.codec(pt) in CODECS:
                return pt
        return None


def parse(body: bytes) -> Audio:
    """The first audio stream of an SDP body (``SipParseError`` when there is none)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("SDP is not UTF-8 text") from None
    session_host = None
    audio = None
    in_audio = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
                raise SipParseError(f"bad SDP connection line {value[:40]!r}")
            if audio is not None and in_audio:
                audio.host = parts[2]
            else:
                session_host = parts[2]
        elif kind == "m":
            parts = value.split()
            in_audio = bool(parts) and parts[0] == "audio" and audio is None
            if in_audio:
                if len(parts) < 4 or not parts[1].split("/")[0].isdigit() or not parts[2].startswith("RTP/"):
                    raise SipParseError(f"bad SDP media line {value[:60]!r}")
                try:
                    pts = [int(p) for p in parts[3:]]
                except ValueError:
                    raise SipParseError(f"bad SDP payload types {value[:60]!r}") from None
                if any(not 0 <= p <= 127 for p in pts):
                    raise SipParseError("SDP payload type outside 0..127")
                port = int(parts[1].split("/")[0])
                if port > 65535:
                    raise SipParseError(f"SDP port {port} outside 0..65535")
                audio = Audio(session_host or "", port, pts)
        elif kind == "a" and in_audio and audio is not None:
            name, _, arg = value.partition(":")
            if name == "rtpmap":
                pt, _, enc = arg.partition(" ")
                if pt.isdigit():
                    audio.rtpmap[int(pt)] = enc.strip()
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                audio.direction = name
            elif name == "ptime" and arg.strip().isdigit():
                audio.ptime = int(arg.strip())
    if audio is None:
        raise SipParseError("SDP has no audio stream")
    if not audio.host:
        raise SipParseError("SDP has no connection address for audio")
    return audio


def build(host: str, port: int, payloads: list[int], rtpmap: dict[int, str], *, session: int | None = None,
          version: int = 1, direction: str = "sendrecv") -> bytes:
    session = session or secrets.randbelow(2 ** 31)
    lines = ["v=0", f"o=scanhub {session} {version} IN IP4 {host}", "s=scanhub", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(map(str, payloads))}"]
    for pt in payloads:
        if pt in rtpmap:
            lines.append(f"a=rtpmap:{pt} {rtpmap[pt]}")
        if rtpmap.get(pt, "").lower().startswith("telephone-event"):
            lines.append(f"a=fmtp:{pt} 0-16")
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def offer(host: str, port: int, *, prefer: tuple[str, ...] = CODECS, dtmf_pt: int = 101) -> bytes:
    """Our offer: the G.711 codecs in ``prefer`` order, and telephone-event."""
    pts = [{"PCMA": 8, "PCMU": 0}[c] for c in prefer]
    rtpmap = {8: "PCMA/8000", 0: "PCMU/8000", dtmf_pt: "telephone-event/8000"}
    return build(host, port, pts + [dtmf_pt], rtpmap)


def answer(remote: Audio, host: str, port: int, *, allowed: tuple[str, ...] = CODECS) -> tuple[bytes, int, int | None]:
    """Our answer to ``remote``'s offer: (SDP, chosen codec payload type, telephone-event pt).
    ``SipParseError`` when the offer has no codec we take."""
    chosen = next((pt for pt in remote.payloads if remote.codec(pt) in allowed), None)
    if chosen is None:
        raise SipParseError("the offer has no G.711 codec (PCMA or PCMU)")
    te = remote.telephone_event
    pts = [chosen] + ([te] if te is not None else [])
    rtpmap = {chosen: f"{remote.codec(chosen)}/8000"}
    if te is not None:
        rtpmap[te] = "telephone-event/8000"
    direction = {"sendonly": "recvonly", "recvonly": "sendonly"}.get(remote.direction, remote.direction)
    return build(host, port, pts, rtpmap, direction=direction), chosen, te
