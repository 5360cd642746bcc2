"""SIP messages (RFC 3261 §7, §20, §25): parse and build, bytes in and bytes out, no I/O.

``parse(data)`` reads one datagram into a :class:`SipMessage` or raises
:class:`~hub.telephony.errors.SipParseError` (never anything else, whatever the bytes); a request
whose start line could be read carries its headers in the error's ``partial`` so that the
transport can answer ``400 Bad Request``.  Header names are kept in their canonical spelling
(compact forms such as ``v`` and ``i`` are expanded); several values of one header stay in order.

Addresses: :func:`parse_addr` reads ``"Name" <sip:user@host:port;uri-params>;tag=…`` and the bare
``sip:user@host;tag=…`` form into a :class:`NameAddr`; :func:`parse_uri` reads a SIP URI.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from hub.telephony.errors import SipParseError

COMPACT = {"i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
           "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
           "r": "Refer-To", "o": "Event", "u": "Allow-Events", "b": "Referred-By"}
_CANON = {n.lower(): n for n in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length", "Content-Type",
    "Authorization", "Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate", "Expires",
    "Allow", "Supported", "User-Agent", "Server", "Route", "Record-Route", "Refer-To", "Referred-By",
    "Event", "Subscription-State", "Reason", "Allow-Events", "Accept", "Require", "Unsupported")}
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?$")
#: a request needs these (RFC 3261 §8.1.1); a response the same but Max-Forwards
REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")
MAX_MESSAGE = 65535
REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
           400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 407: "Proxy Authentication Required", 408: "Request Timeout",
           415: "Unsupported Media Type", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
           481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
           486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
           491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
           503: "Service Unavailable", 603: "Decline"}


def canonical(name: str) -> str:
    low = name.lower()
    if low in COMPACT:
        return COMPACT[low]
    return _CANON.get(low) or "-".join(p.capitalize() for p in name.split("-"))


@dataclass
class SipMessage:
    """A request (``method``, ``uri``) or a response (``status``, ``reason``)."""

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    # ----------------------------------------------------------------- headers
    def get(self, name: str, default: str | None = None) -> str | None:
        name = canonical(name)
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, comma-separated lists split (not inside quotes or <>)."""
        name = canonical(name)
        out = []
        for k, v in self.headers:
            if k == name:
                out += split_list(v) if name not in ("WWW-Authenticate", "Proxy-Authenticate", "Authorization",
                                                     "Proxy-Authorization") else [v]
        return out

    def set(self, name: str, value: str) -> None:
        name = canonical(name)
        for i, (k, _) in enumerate(self.headers):
            if k == name:
                self.headers[i] = (name, value)
                del_rest = [j for j in range(i + 1, len(self.headers)) if self.headers[j][0] == name]
                for j in reversed(del_rest):
                    del self.headers[j]
                return
        self.headers.append((name, value))

    def add(self, name: str, value: str, first: bool = False) -> None:
        name = canonical(name)
        if first:
            for i, (k, _) in enumerate(self.headers):
                if k == name:
                    self.headers.insert(i, (name, value))
                    return
        self.headers.append((name, value))

    def remove(self, name: str) -> None:
        name = canonical(name)
        self.headers = [(k, v) for k, v in self.headers if k != name]

    # ----------------------------------------------------------------- shortcuts
    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("CSeq") or "")

    @property
    def branch(self) -> str:
        via = self.get_all("Via")
        return parse_via(via[0]).params.get("branch", "") if via else ""

    def from_addr(self) -> "NameAddr":
        return parse_addr(self.get("From") or "")

    def to_addr(self) -> "NameAddr":
        return parse_addr(self.get("To") or "")

    def encode(self) -> bytes:
        if self.is_request:
            first = f"{self.method} {self.uri} SIP/2.0"
        else:
            first = f"SIP/2.0 {self.status} {self.reason or REASONS.get(self.status, '')}".rstrip()
        lines = [first] + [f"{k}: {v}" for k, v in self.headers if k != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


# --------------------------------------------------------------------- parsing
def parse(data: bytes) -> SipMessage:
    """One SIP message from a datagram (``SipParseError`` when it is not one)."""
    if not isinstance(data, (bytes, bytearray)):
        raise SipParseError("a SIP message is bytes")
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"message of {len(data)} bytes is larger than {MAX_MESSAGE}")
    data = bytes(data).lstrip(b"\r\n")      # keep-alive CRLFs before a message are allowed
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise SipParseError("no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8 text") from None
    lines = re.split(r"\r?\n", text)
    msg = _start_line(lines[0])
    try:
        _headers(msg, lines[1:])
        _check(msg, body)
    except SipParseError as e:
        if msg.is_request:
            e.partial = msg
        raise
    return msg


def _start_line(line: str) -> SipMessage:
    if line.startswith("SIP/"):
        m = _STATUS.match(line)
        if not m:
            raise SipParseError(f"bad status line {line[:60]!r}")
        return SipMessage(status=int(m.group(1)), reason=m.group(2) or "")
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        raise SipParseError(f"bad request line {line[:60]!r}")
    method, uri = parts[0], parts[1]
    if not _TOKEN.match(method) or not method.isupper():
        raise SipParseError(f"bad method {method[:20]!r}")
    if ":" not in uri or any(c.isspace() for c in uri):
        raise SipParseError(f"bad Request-URI {uri[:60]!r}")
    return SipMessage(method=method, uri=uri)


def _headers(msg: SipMessage, lines: list[str]) -> None:
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":                              # folded continuation (§7.3.1)
            if not msg.headers:
                raise SipParseError("continuation line before any header")
            k, v = msg.headers[-1]
            msg.headers[-1] = (k, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or not _TOKEN.match(name):
            raise SipParseError(f"bad header line {line[:60]!r}")
        msg.headers.append((canonical(name), value.strip()))


SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type", "Expires")


def _check(msg: SipMessage, body: bytes) -> None:
    for name in REQUIRED:
        if not msg.get(name):
            raise SipParseError(f"missing {name} header")
    for name in SINGLE:
        if sum(1 for k, _ in msg.headers if k == name) > 1:
            raise SipParseError(f"more than one {name} header")
    num, method = parse_cseq(msg.get("CSeq"))
    if msg.is_request and method != msg.method:
        raise SipParseError(f"CSeq method {method} is not the request's {msg.method}")
    parse_via(msg.get_all("Via")[0])
    parse_addr(msg.get("From"))
    parse_addr(msg.get("To"))
    length = msg.get("Content-Length")
    if length is not None:
        if not length.isdigit():
            raise SipParseError(f"bad Content-Length {length[:20]!r}")
        n = int(length)
        if n > len(body):
            raise SipParseError(f"Content-Length {n} but only {len(body)} bytes of body")
        body = body[:n]
    mf = msg.get("Max-Forwards")
    if mf is not None and (not mf.isdigit() or int(mf) > 255):
        raise SipParseError(f"bad Max-Forwards {mf[:20]!r}")
    msg.body = body


def parse_cseq(value: str) -> tuple[int, str]:
    parts = (value or "").split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or not _TOKEN.match(parts[1]):
        raise SipParseError(f"bad CSeq {value[:40]!r}")
    n = int(parts[0])
    if n >= 2 ** 31:
        raise SipParseError(f"CSeq number {n} is not below 2**31")
    return n, parts[1]


def split_list(value: str) -> list[str]:
    """Split a header value at commas that are not inside quotes or angle brackets."""
    out, cur, quote, angle = [], [], False, 0
    for ch in value:
        if ch == '"':
            quote = not quote
        elif not quote and ch == "<":
            angle += 1
        elif not quote and ch == ">":
            angle = max(0, angle - 1)
        if ch == "," and not quote and not angle:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [v for v in out if v]


def _params(text: str) -> dict[str, str]:
    out = {}
    for p in text.split(";"):
        p = p.strip()
        if not p:
            continue
        k, _, v = p.partition("=")
        out[k.strip().lower()] = v.strip().strip('"')
    return out


@dataclass
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]


def parse_via(value: str) -> Via:
    m = re.match(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?$", value or "")
    if not m:
        raise SipParseError(f"bad Via {value[:60]!r}")
    host, port = _hostport(m.group(2))
    return Via(m.group(1).upper(), host, port, _params(m.group(3) or ""))


def _hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.partition(":")
    if not host or not re.match(r"^[A-Za-z0-9.\-:_]+$", host):
        raise SipParseError(f"bad host {text[:60]!r}")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise SipParseError(f"bad port in {text[:60]!r}")
        return host, int(port)
    return host, None


@dataclass
class SipUri:
    scheme: str
    user: str
    host: str
    port: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    password: str = ""

    def __str__(self) -> str:
        user = self.user + (":" + self.password if self.password else "")
        hp = self.host + (f":{self.port}" if self.port else "")
        params = "".join(f";{k}" + (f"={v}" if v else "") for k, v in self.params.items())
        return f"{self.scheme}:{user + '@' if user else ''}{hp}{params}"


def parse_uri(text: str) -> SipUri:
    scheme, colon, rest = (text or "").strip().partition(":")
    if not colon or scheme.lower() not in ("sip", "sips", "tel"):
        raise SipParseError(f"not a SIP URI: {text[:60]!r}")
    if scheme.lower() == "tel":
        num, _, params = rest.partition(";")
        return SipUri("tel", num, "", None, _params(params))
    rest, _, headers = rest.partition("?")
    main, _, params = rest.partition(";")
    user, at, hostport = main.rpartition("@")
    if not at:
        user, hostport = "", main
    user, _, password = user.partition(":")
    host, port = _hostport(hostport)
    return SipUri(scheme.lower(), user, host, port, _params(params), password)


@dataclass
class NameAddr:
    display: str
    uri: SipUri
    params: dict[str, str]

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")

    def __str__(self) -> str:
        disp = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}" + (f"={v}" if v else "") for k, v in self.params.items())
        return f"{disp}<{self.uri}>{params}"


def parse_addr(value: str) -> NameAddr:
    value = (value or "").strip()
    if "<" in value:
        disp, _, rest = value.partition("<")
        uri, close, params = rest.partition(">")
        if not close:
            raise SipParseError(f"address without '>': {value[:60]!r}")
        disp = disp.strip().strip('"').strip()
        return NameAddr(disp, parse_uri(uri), _params(params))
    uri, _, params = value.partition(";")   # addr-spec: ;params belong to the header
    return NameAddr("", parse_uri(uri), _params(params))


# --------------------------------------------------------------------- building
def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(10)}@{host}"


def response(req: SipMessage, status: int, reason: str = "", *, to_tag: str | None = None,
             headers: list[tuple[str, str]] = (), body: bytes = b"") -> SipMessage:
    """A response to ``req`` (§8.2.6): Via, From, Call-ID and CSeq copied, To with ``to_tag``."""
    resp = SipMessage(status=status, reason=reason or REASONS.get(status, ""))
    for k, v in req.headers:
        if k in ("Via", "From", "Call-ID", "CSeq", "Record-Route"):
            resp.headers.append((k, v))
    to = req.get("To") or ""
    if to_tag and status != 100 and ";tag=" not in to.replace(" ", ""):
        to = f"{to};tag={to_tag}"
    resp.headers.insert(2, ("To", to))
    resp.headers += list(headers)
    resp.body = body
    return resp
