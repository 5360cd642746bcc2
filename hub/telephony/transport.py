"""SIP over UDP (and TCP) with the transaction layer of RFC 3261 §17, on an asyncio event loop.

:class:`SipTransport` receives datagrams, parses them (``hub.telephony.sipmsg``) and matches
them to transactions by the Via branch:

* **server transactions**: a retransmitted request gets the last response again; a final
  non-2xx answer to an INVITE is retransmitted (timer G, from T1 doubling to T2) until its ACK
  arrives (absorbed here) or timer H (64·T1) passes; a 2xx answer to an INVITE is retransmitted
  until the dialog's ACK arrives (``ack_received``), as §13.3.1.4 asks of the UAS core;
* **client transactions**: requests are retransmitted (timer A / E) until a response arrives;
  64·T1 without a final response reports a ``408``; an INVITE's non-2xx final response is
  ACKed here with the same branch, as §17.1.1.3 says.

TCP (``listen_tcp``, same port as UDP): a connection's byte stream is cut into messages by
:func:`split_stream` (headers up to the blank line, then ``Content-Length`` bytes of body,
§18.3) and each message goes the way of a datagram; what we send to that peer goes back on its
connection, and nothing is retransmitted over it (§17.1.1.2: reliable transports need no timer
A/E/G).  A stream that breaks the framing (no header end within 64 KB, a body longer than that)
is closed.

A datagram that is not SIP is counted and dropped; a malformed *request* whose Via, From, To,
Call-ID and CSeq could be read is answered ``400 Bad Request`` with the reason (§8.2.2 and the
torture tests of RFC 4475).  Nothing a peer sends can stop the loop.
"""
from __future__ import annotations

import asyncio
import logging
import re

from hub.telephony import sipmsg
from hub.telephony.errors import SipParseError
from hub.telephony.sipmsg import SipMessage

T1, T2, T4 = 0.5, 4.0, 5.0
MAX_STREAM_MESSAGE = 65536
log = logging.getLogger("scanhub.telephony.sip")
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$", re.I | re.M)


def split_stream(buf: bytearray) -> list[bytes]:
    """Whole SIP messages at the front of a TCP stream's buffer, removed from it; an incomplete
    one stays for more bytes.  SipParseError when the stream cannot be framed (the connection is
    then closed): no end of headers within MAX_STREAM_MESSAGE bytes, or a larger body."""
    out = []
    while True:
        while buf[:2] == b"\r\n":                 # keep-alives between messages (§7.5)
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_STREAM_MESSAGE:
                raise SipParseError(f"no end of SIP headers within {MAX_STREAM_MESSAGE} bytes on a TCP stream")
            return out
        head = bytes(buf[:end])
        m = _CONTENT_LENGTH.search(head)
        length = int(m.group(1)) if m else 0
        if length > MAX_STREAM_MESSAGE:
            raise SipParseError(f"a SIP body of {length} bytes on a TCP stream (at most {MAX_STREAM_MESSAGE})")
        total = end + 4 + length
        if len(buf) < total:
            return out
        out.append(bytes(buf[:total]))
        del buf[:total]


class _SipStream(asyncio.Protocol):
    """One TCP connection of a SIP peer: framed messages in, our messages to that peer out."""

    def __init__(self, transport: "SipTransport") -> None:
        self.owner = transport
        self.buf = bytearray()
        self.tr = None
        self.peer = None

    def connection_made(self, tr) -> None:
        self.tr = tr
        self.peer = tuple(tr.get_extra_info("peername")[:2])
        self.owner._streams[self.peer] = tr

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            messages = split_stream(self.buf)
        except SipParseError as e:
            log.info("closing the SIP connection from %s:%s: %s", *self.peer, e)
            self.owner.counters["malformed"] += 1
            self.tr.close()
            return
        for msg in messages:
            self.owner.datagram_received(msg, self.peer)

    def connection_lost(self, exc) -> None:
        if self.owner._streams.get(self.peer) is self.tr:
            del self.owner._streams[self.peer]


class ServerTransaction:
    def __init__(self, transport: "SipTransport", req: SipMessage, addr) -> None:
        self.transport = transport
        self.request = req
        self.addr = addr
        self.last: bytes | None = None
        self.final = False
        self._timer = None
        self._expire = None

    def respond(self, resp: SipMessage) -> None:
        data = resp.encode()
        self.last = data
        self.transport.send_raw(data, self.addr)
        if resp.status >= 200:
            self.final = True
            if self.request.method == "INVITE":
                # non-2xx: until the ACK (here); 2xx: until the dialog's ACK (ack_received)
                self._retransmit(T1)
                self._expire = self.transport.loop.call_later(64 * T1, self.terminate)
                if resp.status < 300:
                    self.transport._awaiting_ack[(self.request.call_id, self.request.cseq[0])] = self
            else:
                self._expire = self.transport.loop.call_later(64 * T1, self.terminate)

    def _retransmit(self, interval: float) -> None:
        if self.transport.reliable(self.addr):
            return
        def fire():
            if self.last is not None and self._timer is not None:
                self.transport.send_raw(self.last, self.addr)
                self._retransmit(min(interval * 2, T2))
        self._timer = self.transport.loop.call_later(interval, fire)

    def acked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def terminate(self) -> None:
        self.acked()
        if self._expire is not None:
            self._expire.cancel()
        key = (self.request.branch, self.request.method)
        if self.transport._server.get(key) is self:
            del self.transport._server[key]
        self.transport._awaiting_ack.pop((self.request.call_id, self.request.cseq[0]), None)


class ClientTransaction:
    def __init__(self, transport: "SipTransport", req: SipMessage, addr, on_response) -> None:
        self.transport = transport
        self.request = req
        self.addr = addr
        self.on_response = on_response
        self.data = req.encode()
        self.final = False
        self.provisional = False
        self._timer = None
        self._expire = None
        self.ack: bytes | None = None

    def start(self) -> None:
        self.transport.send_raw(self.data, self.addr)
        self._schedule(T1)
        self._expire = self.transport.loop.call_later(64 * T1, self._timeout)

    def _schedule(self, interval: float) -> None:
        if self.transport.reliable(self.addr):
            return
        def fire():
            if self.final or self._timer is None:
                return
            if self.request.method == "INVITE" and self.provisional:
                return                       # timer A stops at the first provisional response
            self.transport.send_raw(self.data, self.addr)
            self._schedule(interval * 2 if self.request.method == "INVITE" else min(interval * 2, T2))
        self._timer = self.transport.loop.call_later(interval, fire)

    def _stop(self) -> None:
        for t in (self._timer, self._expire):
            if t is not None:
                t.cancel()
        self._timer = None

    def _timeout(self) -> None:
        if self.final:
            return
        self.final = True
        self._stop()
        self.transport._client.pop(self.key, None)
        self.on_response(sipmsg.response(self.request, 408, "Request Timeout"))

    @property
    def key(self):
        return (self.request.branch, self.request.method)

    def receive(self, resp: SipMessage) -> None:
        if resp.status < 200:
            if not self.final:
                self.provisional = True
                self.on_response(resp)
            return
        if self.final:
            if self.ack is not None and resp.status >= 300:
                self.transport.send_raw(self.ack, self.addr)      # our ACK got lost
            elif resp.status < 300 and self.request.method == "INVITE":
                self.on_response(resp)                            # 2xx again: the dialog re-ACKs
            return
        self.final = True
        self._stop()
        if self.request.method == "INVITE" and resp.status >= 300:
            ack = SipMessage(method="ACK", uri=self.request.uri)
            ack.headers = [("Via", self.request.get_all("Via")[0]), ("From", self.request.get("From")),
                           ("To", resp.get("To")), ("Call-ID", self.request.call_id),
                           ("CSeq", f"{self.request.cseq[0]} ACK"), ("Max-Forwards", "70")]
            self.ack = ack.encode()
            self.transport.send_raw(self.ack, self.addr)
            # keep absorbing retransmitted finals for a while (timer D)
            self.transport.loop.call_later(32, lambda: self.transport._client.pop(self.key, None))
        elif self.request.method == "INVITE":
            self.transport.loop.call_later(32, lambda: self.transport._client.pop(self.key, None))
        else:
            self.transport.loop.call_later(T4, lambda: self.transport._client.pop(self.key, None))
        self.on_response(resp)


class SipTransport(asyncio.DatagramProtocol):
    """UDP SIP on ``(host, port)``; ``on_request(req, addr, stx)`` gets every new request (and
    ACKs of 2xx answers, with ``stx`` None)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_request, on_stray_response=None) -> None:
        self.loop = loop
        self.on_request = on_request
        self.on_stray_response = on_stray_response
        self.sock = None
        self._server: dict[tuple[str, str], ServerTransaction] = {}
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        self._awaiting_ack: dict[tuple[str, int], ServerTransaction] = {}
        self._streams: dict[tuple[str, int], asyncio.Transport] = {}     # TCP peers -> their connection
        self._tcp_server = None
        self.counters = {"received": 0, "malformed": 0, "bad_request_sent": 0, "retransmissions_in": 0}

    # asyncio protocol
    def connection_made(self, transport) -> None:
        self.sock = transport

    def error_received(self, exc) -> None:        # ICMP port unreachable and friends
        log.debug("SIP socket error: %s", exc)

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.get_extra_info("sockname")[:2]

    async def listen_tcp(self, host: str, port: int) -> None:
        """Accept SIP over TCP on ``host:port`` too (OSError when it cannot be bound)."""
        self._tcp_server = await self.loop.create_server(lambda: _SipStream(self), host, port)

    def close_tcp(self) -> None:
        if self._tcp_server is not None:
            self._tcp_server.close()
            self._tcp_server = None
        for tr in list(self._streams.values()):
            tr.close()

    def reliable(self, addr) -> bool:
        """Whether ``addr`` is a TCP peer (no retransmissions toward it)."""
        return tuple(addr) in self._streams if addr is not None else False

    def send_raw(self, data: bytes, addr) -> None:
        stream = self._streams.get(tuple(addr)) if addr is not None else None
        if stream is not None:
            stream.write(data)
            return
        if self.sock is not None:
            self.sock.sendto(data, addr)

    def datagram_received(self, data: bytes, addr) -> None:
        self.counters["received"] += 1
        if not data.strip():
            return                                   # CRLF keep-alive
        try:
            msg = sipmsg.parse(data)
        except SipParseError as e:
            self.counters["malformed"] += 1
            self._bad_request(e, addr)
            return
        try:
            if msg.is_request:
                self._request(msg, addr)
            else:
                self._response(msg, addr)
        except SipParseError as e:
            self.counters["malformed"] += 1
            if msg.is_request:
                e.partial = msg
                self._bad_request(e, addr)
        except Exception:                           # a bug must not stop the loop
            log.exception("error handling a SIP message from %s", addr)
            if msg.is_request and msg.method != "ACK":
                self.send_raw(sipmsg.response(msg, 500).encode(), addr)

    def _bad_request(self, err: SipParseError, addr) -> None:
        req = err.partial
        if req is None or not req.is_request or req.method == "ACK":
            return
        if not all(req.get(h) for h in sipmsg.REQUIRED):
            return
        try:
            sipmsg.parse_cseq(req.get("CSeq"))
            sipmsg.parse_via(req.get_all("Via")[0])
        except SipParseError:
            return
        reason = "Bad Request (" + str(err).replace("\r", " ").replace("\n", " ")[:80] + ")"
        resp = sipmsg.response(req, 400, reason, to_tag=sipmsg.new_tag())
        self.counters["bad_request_sent"] += 1
        self.send_raw(resp.encode(), addr)

    def _request(self, req: SipMessage, addr) -> None:
        if req.method == "ACK":
            stx = self._server.get((req.branch, "INVITE"))
            if stx is not None and stx.final and stx.last is not None and not stx.last.startswith(b"SIP/2.0 2"):
                stx.acked()
                return
            waiting = self._awaiting_ack.pop((req.call_id, req.cseq[0]), None)
            if waiting is not None:
                waiting.acked()
            self.on_request(req, addr, None)
            return
        key = (req.branch, req.method)
        stx = self._server.get(key)
        if stx is not None:
            self.counters["retransmissions_in"] += 1
            if stx.last is not None:
                self.send_raw(stx.last, addr)
            return
        stx = ServerTransaction(self, req, addr)
        if req.branch:
            self._server[key] = stx
        self.on_request(req, addr, stx)

    def _response(self, resp: SipMessage, addr) -> None:
        ctx = self._client.get((resp.branch, resp.cseq[1]))
        if ctx is None:
            if self.on_stray_response is not None:
                self.on_stray_response(resp, addr)
            return
        ctx.receive(resp)

    def server_transaction(self, branch: str, method: str) -> ServerTransaction | None:
        return self._server.get((branch, method))

    def request(self, req: SipMessage, addr, on_response) -> ClientTransaction:
        """Send ``req`` (its top Via carries the branch) to ``addr`` in a new client transaction."""
        ctx = ClientTransaction(self, req, addr, on_response)
        self._client[ctx.key] = ctx
        ctx.start()
        return ctx

    def send_ack(self, ack: SipMessage, addr) -> bytes:
        data = ack.encode()
        self.send_raw(data, addr)
        return data
