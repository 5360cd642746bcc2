"""The SIP side of the B2BUA: the registrar for seats, and SIP legs to seats and SIP trunks.

:class:`SipLine` answers what arrives on the transport (``hub.telephony.transport``):

* ``REGISTER`` from a seat, with digest authentication (401 challenge; the seat's password from
  the PBX file); ``Expires: 0`` removes the binding;
* ``INVITE`` from a SIP trunk (recognised by its address) or from a registered seat (which must
  authenticate: 407 challenge) becomes a call with an ``a`` leg, routed by the switch; an
  in-dialog re-INVITE is answered with the session as it stands;
* ``ACK``, ``BYE``, ``CANCEL`` (``487`` for the INVITE, then the other legs are cancelled),
  ``OPTIONS`` (200 with what we allow), ``INFO`` (200); other methods ``405``/``501``.

The switch asks :meth:`SipLine.open_leg` for outgoing legs: an INVITE to the seat's registered
contact, or to the trunk's peer (answering its digest challenge when the trunk has
credentials).  Our SDP offers the G.711 codecs the caller offered, in its order, and
telephone-event when the caller had it; the caller's answer carries the codec the callee chose,
so the media needs no transcoding.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from hub.telephony import digest, sdp, sipmsg
from hub.telephony.config import HANGUP_CAUSES, E1Trunk, PbxConfig, SipTrunk, Target
from hub.telephony.errors import SipParseError, TelephonyError
from hub.telephony.model import Leg
from hub.telephony.sipmsg import SipMessage

log = logging.getLogger("scanhub.telephony.sip")
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, REFER, NOTIFY"
KNOWN_UNSUPPORTED = ("SUBSCRIBE", "PUBLISH", "MESSAGE", "UPDATE", "PRACK")
#: a final status from a callee -> the leg's end cause (what the dial plan's fallbacks see)
STATUS_CAUSE = {486: "busy", 600: "busy", 603: "busy", 480: "unavailable", 408: "unavailable",
                404: "failed", 487: "cancelled"}
CAUSE_STATUS = dict(HANGUP_CAUSES, cancelled=487, normal=480, abandoned=487, failed=503)
MIN_EXPIRES, MAX_EXPIRES, DEFAULT_EXPIRES = 60, 3600, 600


@dataclass
class Binding:
    extension: str
    contact: str
    addr: tuple[str, int]
    expires_at: float
    user_agent: str = ""

    def to_dict(self) -> dict:
        return {"seat": self.extension, "contact": self.contact, "address": f"{self.addr[0]}:{self.addr[1]}",
                "expires_s": max(0, int(self.expires_at - time.time())), "user_agent": self.user_agent}


def _replaces(refer_to: str) -> tuple[str, str, str] | None:
    """The Replaces header embedded in a Refer-To URI (``sip:x@h?Replaces=cid%3Bto-tag%3D…``) as
    (Call-ID, to-tag, from-tag), or None when there is none; SipParseError when it is unreadable."""
    from urllib.parse import parse_qs, unquote
    uri = refer_to.strip()
    if uri.startswith("<") or "<" in uri:
        uri = uri[uri.index("<") + 1:uri.rindex(">")] if ">" in uri else uri
    _, q, headers = uri.partition("?")
    if not q:
        return None
    values = {k.lower(): v for k, v in parse_qs(headers, keep_blank_values=True).items()}
    if "replaces" not in values:
        return None
    call_id, *params = unquote(values["replaces"][0]).split(";")
    p = dict(x.strip().partition("=")[::2] for x in params)
    if not call_id.strip() or "to-tag" not in p or "from-tag" not in p:
        raise SipParseError("Replaces in Refer-To needs a Call-ID, to-tag and from-tag")
    return call_id.strip(), p["to-tag"], p["from-tag"]


def _uri_addr(uri: str) -> tuple[str, int]:
    u = sipmsg.parse_uri(uri)
    return u.host, u.port or 5060


class SipLeg(Leg):
    kind = "sip"

    def __init__(self, line: "SipLine", call, *, direction: str, trunk, seat, peer: str, call_id: str,
                 addr, local_tag: str) -> None:
        super().__init__(call, trunk=trunk, seat=seat, channel=call_id, peer=peer, direction=direction)
        self.line = line
        self.call_id = call_id
        self.addr = addr                    # where in-dialog requests go
        self.local_tag = local_tag
        self.remote_tag = ""
        self.local_uri = ""                 # our From (out) or To (in) header value, with our tag
        self.remote_uri = ""
        self.remote_target = ""
        self.cseq = 0
        self.invite: SipMessage | None = None     # in: the caller's; out: ours
        self.stx = None                     # in: the INVITE's server transaction
        self.ctx = None                     # out: the INVITE's client transaction
        self.offer: sdp.Audio | None = None # in: the caller's offer
        self.local_sdp: bytes = b""
        self._provisional = False
        self._cancel_pending = False
        self._ack: bytes | None = None
        self._auth_tried = False
        line.dialogs[(call_id, local_tag)] = self

    # ---------------------------------------------------------------- in-dialog requests we send
    def _request(self, method: str, body: bytes = b"", ctype: str | None = None) -> SipMessage:
        self.cseq += 1
        req = SipMessage(method=method, uri=self.remote_target or str(sipmsg.parse_addr(self.remote_uri).uri))
        req.headers = [("Via", self.line.via(self.addr)), ("Max-Forwards", "70"), ("From", self.local_uri),
                       ("To", self.remote_uri), ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} {method}"),
                       ("Contact", self.line.contact())]
        if ctype:
            req.headers.append(("Content-Type", ctype))
        req.body = body
        return req

    def _bye(self) -> None:
        self.line.transport.request(self._request("BYE"), self.addr, lambda resp: None)

    # ---------------------------------------------------------------- Leg interface
    def ring(self) -> None:
        if self.direction == "in" and self.stx is not None and not self.stx.final:
            self.stx.respond(sipmsg.response(self.invite, 180, to_tag=self.local_tag,
                                             headers=[("Contact", self.line.contact())]))
            self._ringing()

    def answer(self) -> None:
        if self.direction != "in" or self.stx is None or self.stx.final:
            return
        try:
            body, pt, te = sdp.answer(self.offer, self.line.config.media_host, self.media.port,
                                      allowed=(self.codec or "PCMA",))
        except SipParseError:
            self.hangup("failed")
            return
        self.media.codec_pt, self.media.te_pt = pt, te
        self.local_sdp = body
        self.stx.respond(sipmsg.response(self.invite, 200, to_tag=self.local_tag, body=body,
                                         headers=[("Contact", self.line.contact()),
                                                  ("Content-Type", "application/sdp"), ("Allow", ALLOW)]))
        self._answered()

    def hangup(self, cause: str = "normal") -> None:
        if self.state == "ended":
            return
        if self.state == "answered":
            self._bye()
        elif self.direction == "in":
            if self.stx is not None and not self.stx.final:
                status = CAUSE_STATUS.get(cause, 480)
                self.stx.respond(sipmsg.response(self.invite, status, to_tag=self.local_tag))
        else:
            if self._provisional:
                self._send_cancel()
            else:
                self._cancel_pending = True
        self._ended(cause)

    # ---------------------------------------------------------------- outgoing INVITE
    def _send_cancel(self) -> None:
        inv = self.invite
        cancel = SipMessage(method="CANCEL", uri=inv.uri)
        cancel.headers = [("Via", inv.get_all("Via")[0]), ("Max-Forwards", "70"), ("From", inv.get("From")),
                          ("To", inv.get("To")), ("Call-ID", inv.call_id), ("CSeq", f"{inv.cseq[0]} CANCEL")]
        self.line.transport.request(cancel, self.addr, lambda resp: None)

    def on_invite_response(self, resp: SipMessage) -> None:
        status = resp.status
        if status < 200:
            if status == 100:
                return
            if not self._provisional:
                self._provisional = True
                if self._cancel_pending:
                    self._send_cancel()
                    return
            if self.state == "offered":
                self._ringing()
            return
        if status < 300:
            self._on_2xx(resp)
            return
        if status in (401, 407) and self.trunk and not self._auth_tried:
            trunk = self.line.config.trunks.get(self.trunk)
            if isinstance(trunk, SipTrunk) and trunk.username:
                self._auth_tried = True
                self._resend_with_auth(resp, trunk)
                return
        if self.state != "ended":
            self._ended(STATUS_CAUSE.get(status, "failed"))

    def _on_2xx(self, resp: SipMessage) -> None:
        to = resp.to_addr()
        self.remote_tag = to.tag
        self.remote_uri = resp.get("To")
        contact = resp.get_all("Contact")
        if contact:
            self.remote_target = str(sipmsg.parse_addr(contact[0]).uri)
        ack = SipMessage(method="ACK", uri=self.remote_target or self.invite.uri)
        ack.headers = [("Via", self.line.via(self.addr)), ("Max-Forwards", "70"), ("From", self.local_uri),
                       ("To", self.remote_uri), ("Call-ID", self.call_id), ("CSeq", f"{self.invite.cseq[0]} ACK")]
        if self._ack is not None:
            self.line.transport.send_raw(self._ack, self.addr)      # 2xx retransmitted: ACK again
            return
        self._ack = self.line.transport.send_ack(ack, self.addr)
        if self.state == "ended":                                   # cancelled meanwhile: end it
            self._bye()
            return
        try:
            answer = sdp.parse(resp.body)
        except SipParseError:
            self._bye()
            self._ended("failed")
            return
        pt = answer.first_g711
        if pt is None:
            self._bye()
            self._ended("failed")
            return
        self.codec = answer.codec(pt)
        self.media.codec, self.media.codec_pt, self.media.te_pt = self.codec, pt, answer.telephone_event
        self.media.set_remote(answer.host, answer.port)
        self.state = "ringing" if self.state == "offered" else self.state
        self._answered()

    def _resend_with_auth(self, resp: SipMessage, trunk: SipTrunk) -> None:
        header = "Proxy-Authorization" if resp.status == 407 else "Authorization"
        challenge = resp.get("Proxy-Authenticate" if resp.status == 407 else "WWW-Authenticate") or ""
        inv = self.invite
        again = SipMessage(method="INVITE", uri=inv.uri, body=inv.body)
        again.headers = [("Via", self.line.via(self.addr))] + [(k, v) for k, v in inv.headers
                                                      if k not in ("Via", "CSeq", header)]
        self.cseq = inv.cseq[0] + 1
        again.headers.append(("CSeq", f"{self.cseq} INVITE"))
        again.headers.append((header, digest.authorization(challenge, trunk.username, trunk.password, "INVITE",
                                                           inv.uri)))
        self.invite = again
        self.ctx = self.line.transport.request(again, self.addr, self.on_invite_response)

    def _reinvite(self, req: SipMessage, stx) -> None:
        """A re-INVITE: a new offer on the same session.  Hold (``sendonly``/``inactive``) and
        resume are answered here (the other party keeps its session; the call gets ``hold`` and
        ``unhold`` events); a moved peer address is followed."""
        if not self.local_sdp or self.media is None or self.state != "answered":
            stx.respond(sipmsg.response(req, 491 if self.state != "ended" else 481))
            return
        if req.body:
            offer = sdp.parse(req.body)              # SipParseError -> 400 from the transport
            pt = self.media.codec_pt if self.media.codec_pt in offer.payloads else offer.first_g711
            if pt is None:
                stx.respond(sipmsg.response(req, 488))
                return
            self.media.set_remote(offer.host, offer.port)
            direction = offer.direction
        else:
            direction, pt = "sendrecv", self.media.codec_pt
        held = direction in ("sendonly", "inactive")
        if held != getattr(self, "held", False):
            self.held = held
            self.call.event("hold" if held else "unhold", self, direction=direction)
        self._sdp_version = getattr(self, "_sdp_version", 1) + 1
        pts = [pt] + ([self.media.te_pt] if self.media.te_pt is not None else [])
        rtpmap = {pt: f"{self.media.codec}/8000"}
        if self.media.te_pt is not None:
            rtpmap[self.media.te_pt] = "telephone-event/8000"
        mirror = {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)
        self.local_sdp = sdp.build(self.line.config.media_host, self.media.port, pts, rtpmap,
                                   version=self._sdp_version, direction=mirror)
        stx.respond(sipmsg.response(req, 200, body=self.local_sdp,
                                    headers=[("Contact", self.line.contact()), ("Content-Type", "application/sdp")]))

    def _refer(self, req: SipMessage, stx) -> None:
        """Blind transfer (RFC 3515): the party on this leg hands the other party to Refer-To.
        202, then NOTIFYs with the progress as message/sipfrag (100 Trying; the final status)."""
        refer_to = req.get("Refer-To")
        if not refer_to or self.state != "answered":
            stx.respond(sipmsg.response(req, 400 if not refer_to else 481, "Bad Request (no Refer-To)"
                                        if not refer_to else ""))
            return
        replaces = _replaces(refer_to)
        if replaces is not None:
            self._refer_replaces(req, stx, replaces)
            return
        number = sipmsg.parse_addr(refer_to).uri.user
        if not number:
            stx.respond(sipmsg.response(req, 400, "Bad Request (Refer-To has no number)"))
            return
        self.call.switch.transfer(self.call, self, number, self._refer_accepted(req, stx))

    def _refer_accepted(self, req: SipMessage, stx):
        """202 for the REFER and NOTIFY 100 Trying; returns ``done(status)``, which sends the
        final NOTIFY with the transfer's outcome."""
        stx.respond(sipmsg.response(req, 202))
        self._notify_refer("SIP/2.0 100 Trying", "active;expires=60")

        def done(status: int) -> None:
            if self.state != "ended":
                self._notify_refer(f"SIP/2.0 {status} {sipmsg.REASONS.get(status, '')}".rstrip(),
                                   "terminated;reason=noresource")
        return done

    def _refer_replaces(self, req: SipMessage, stx, replaces: tuple[str, str, str]) -> None:
        """Attended transfer (RFC 5589 §7): the Refer-To carries ``Replaces`` (RFC 3891) naming
        the transferor's other dialog with us; the party waiting on this leg's call and the
        party of that dialog's call are joined (``Switch.attended_transfer``) and the transferor
        leaves both.  The progress goes back as NOTIFYs; a Replaces that names none of our
        dialogs is reported as 481 in the NOTIFY."""
        call_id, to_tag, from_tag = replaces
        other = self.line.dialogs.get((call_id, to_tag)) or self.line.dialogs.get((call_id, from_tag))
        done = self._refer_accepted(req, stx)
        if other is None or other is self or other.state != "answered":
            done(481)
            return
        try:
            self.call.switch.attended_transfer(self, other, done)
        except TelephonyError as e:
            log.info("attended transfer refused: %s", e)

    def _notify_refer(self, frag: str, state: str) -> None:
        req = self._request("NOTIFY", (frag + "\r\n").encode(), "message/sipfrag;version=2.0")
        req.headers += [("Event", "refer"), ("Subscription-State", state)]
        self.line.transport.request(req, self.addr, lambda resp: None)

    # ---------------------------------------------------------------- requests from the peer
    def on_request(self, req: SipMessage, stx) -> None:
        m = req.method
        if m == "BYE":
            stx.respond(sipmsg.response(req, 200))
            if self.state != "ended":
                self._ended("normal")
        elif m == "INVITE":
            self._reinvite(req, stx)
        elif m in ("INFO", "OPTIONS", "NOTIFY"):
            stx.respond(sipmsg.response(req, 200, headers=[("Allow", ALLOW)]))
        elif m == "REFER":
            self._refer(req, stx)
        elif m == "ACK":
            pass
        else:
            stx.respond(sipmsg.response(req, 405 if m in KNOWN_UNSUPPORTED else 501, headers=[("Allow", ALLOW)]))


class SipLine:
    """The SIP side: registrar, incoming calls, outgoing legs (see the module docstring)."""

    def __init__(self, config: PbxConfig, switch, transport, media) -> None:
        self.config = config
        self.switch = switch
        self.transport = transport
        self.media = media
        self.auth = digest.Challenger(config.realm)
        self.bindings: dict[str, Binding] = {}
        self.dialogs: dict[tuple[str, str], SipLeg] = {}
        self.counters = {"auth_failed": 0, "rejected": 0}
        self.on_bindings = None              # fn(bindings) after every change of registrations
        switch.listeners.append(self._forget)

    def _forget(self, call, event) -> None:
        if event.kind == "call-end":
            for leg in call.legs:
                if isinstance(leg, SipLeg):
                    self.dialogs.pop((leg.call_id, leg.local_tag), None)

    # ---------------------------------------------------------------- helpers
    @property
    def host(self) -> str:
        return self.transport.address[0]

    @property
    def port(self) -> int:
        return self.transport.address[1]

    def via(self, addr=None) -> str:
        """Our Via for a request to ``addr``: TCP toward a peer connected over TCP, else UDP."""
        proto = "TCP" if self.transport.reliable(addr) else "UDP"
        return f"SIP/2.0/{proto} {self.host}:{self.port};branch={sipmsg.new_branch()};rport"

    def contact(self) -> str:
        return f"<sip:scanhub@{self.host}:{self.port}>"

    def registered(self, extension: str) -> Binding | None:
        b = self.bindings.get(extension)
        if b is not None and b.expires_at <= time.time():
            del self.bindings[extension]
            return None
        return b

    # ---------------------------------------------------------------- dispatch
    def on_request(self, req: SipMessage, addr, stx) -> None:
        if req.method == "ACK":
            leg = self._dialog_of(req)
            if leg is not None:
                leg.on_request(req, None)
            return
        mf = req.get("Max-Forwards")
        if mf is not None and int(mf) == 0:
            stx.respond(sipmsg.response(req, 483, to_tag=sipmsg.new_tag()))
            return
        if req.method == "CANCEL":
            self._cancel(req, stx)
            return
        if req.to_addr().tag:
            leg = self._dialog_of(req)
            if leg is None:
                stx.respond(sipmsg.response(req, 481))
            else:
                leg.on_request(req, stx)
            return
        if req.method == "REGISTER":
            self._register(req, addr, stx)
        elif req.method == "INVITE":
            self._invite(req, addr, stx)
        elif req.method == "OPTIONS":
            stx.respond(sipmsg.response(req, 200, to_tag=sipmsg.new_tag(),
                                        headers=[("Allow", ALLOW), ("Accept", "application/sdp")]))
        elif req.method in KNOWN_UNSUPPORTED or req.method in ("BYE", "INFO"):
            status = 481 if req.method in ("BYE", "INFO") else 405
            stx.respond(sipmsg.response(req, status, to_tag=sipmsg.new_tag(), headers=[("Allow", ALLOW)]))
        else:
            stx.respond(sipmsg.response(req, 501, to_tag=sipmsg.new_tag(), headers=[("Allow", ALLOW)]))

    def _dialog_of(self, req: SipMessage) -> SipLeg | None:
        return self.dialogs.get((req.call_id, req.to_addr().tag))

    def _cancel(self, req: SipMessage, stx) -> None:
        inv_tx = self.transport.server_transaction(req.branch, "INVITE")
        leg = getattr(inv_tx, "leg", None) if inv_tx is not None else None
        if inv_tx is None or leg is None:
            stx.respond(sipmsg.response(req, 481, to_tag=sipmsg.new_tag()))
            return
        stx.respond(sipmsg.response(req, 200, to_tag=leg.local_tag))
        if not inv_tx.final:
            leg.hangup("cancelled")

    # ---------------------------------------------------------------- registrar
    def _password(self, user: str) -> str | None:
        seat = self.config.seats.get(user)
        return seat.password if seat is not None else None

    def _register(self, req: SipMessage, addr, stx) -> None:
        user, stale = self.auth.verify(req.get("Authorization"), "REGISTER", self._password)
        aor = req.to_addr().uri.user
        if user is None or user != aor:
            if req.get("Authorization"):
                self.counters["auth_failed"] += 1
            if req.get("Authorization") and not stale:
                stx.respond(sipmsg.response(req, 403, "Forbidden (wrong user or password)", to_tag=sipmsg.new_tag()))
                return
            stx.respond(sipmsg.response(req, 401, to_tag=sipmsg.new_tag(),
                                        headers=[("WWW-Authenticate", self.auth.challenge(stale))]))
            return
        contacts = req.get_all("Contact")
        expires_h = req.get("Expires")
        if not contacts:                                      # a query: the current bindings
            b = self.registered(user)
            hdr = [("Contact", f"<{b.contact}>;expires={b.to_dict()['expires_s']}")] if b else []
            stx.respond(sipmsg.response(req, 200, to_tag=sipmsg.new_tag(), headers=hdr))
            return
        if contacts == ["*"]:
            self._unbind(user)
            stx.respond(sipmsg.response(req, 200, to_tag=sipmsg.new_tag()))
            return
        na = sipmsg.parse_addr(contacts[0])
        expires = na.params.get("expires", expires_h)
        expires = int(expires) if expires is not None and str(expires).isdigit() else DEFAULT_EXPIRES
        if expires == 0:
            self._unbind(user)
            stx.respond(sipmsg.response(req, 200, to_tag=sipmsg.new_tag()))
            return
        if expires < MIN_EXPIRES:
            stx.respond(sipmsg.response(req, 423, to_tag=sipmsg.new_tag(), headers=[("Min-Expires", str(MIN_EXPIRES))]))
            return
        expires = min(expires, MAX_EXPIRES)
        contact = str(na.uri)
        self.bindings[user] = Binding(user, contact, (na.uri.host, na.uri.port or 5060), time.time() + expires,
                                      req.get("User-Agent") or "")
        self._changed()
        stx.respond(sipmsg.response(req, 200, to_tag=sipmsg.new_tag(),
                                    headers=[("Contact", f"<{contact}>;expires={expires}"),
                                             ("Expires", str(expires))]))

    def _unbind(self, user: str) -> None:
        self.bindings.pop(user, None)
        self._changed()

    def _changed(self) -> None:
        if self.on_bindings is not None:
            self.on_bindings(list(self.bindings.values()))

    # ---------------------------------------------------------------- incoming calls
    def _invite(self, req: SipMessage, addr, stx) -> None:
        trunk = self.config.trunk_at(addr[0], addr[1])
        caller_na = req.from_addr()
        if trunk is not None:
            origin, seat = trunk.name, None
        else:
            user, stale = self.auth.verify(req.get("Proxy-Authorization"), "INVITE", self._password)
            if user is None or user != caller_na.uri.user:
                if req.get("Proxy-Authorization") and not stale:
                    self.counters["auth_failed"] += 1
                    stx.respond(sipmsg.response(req, 403, "Forbidden (wrong user or password)",
                                                to_tag=sipmsg.new_tag()))
                    return
                stx.respond(sipmsg.response(req, 407, to_tag=sipmsg.new_tag(),
                                            headers=[("Proxy-Authenticate", self.auth.challenge(stale))]))
                return
            origin, seat = "seats", user
        if not req.body:
            stx.respond(sipmsg.response(req, 488, "Not Acceptable Here (an SDP offer is required)",
                                        to_tag=sipmsg.new_tag()))
            return
        offer = sdp.parse(req.body)          # SipParseError -> 400 from the transport
        if offer.first_g711 is None:
            stx.respond(sipmsg.response(req, 488, "Not Acceptable Here (offer PCMA or PCMU)",
                                        to_tag=sipmsg.new_tag()))
            return
        stx.respond(sipmsg.response(req, 100))
        callee = sipmsg.parse_uri(req.uri).user or req.to_addr().uri.user
        call = self.switch.new_call(origin=origin, caller=caller_na.uri.user, callee=callee)
        tag = sipmsg.new_tag()
        leg = SipLeg(self, call, direction="in", trunk=trunk.name if trunk else None, seat=seat,
                     peer=caller_na.uri.user, call_id=req.call_id, addr=addr, local_tag=tag)
        leg.invite, leg.stx, leg.offer = req, stx, offer
        stx.leg = leg
        leg.remote_tag = caller_na.tag
        leg.remote_uri = req.get("From")
        leg.local_uri = f"{req.get('To')};tag={tag}"
        contact = req.get_all("Contact")
        leg.remote_target = str(sipmsg.parse_addr(contact[0]).uri) if contact else str(caller_na.uri)
        try:
            leg.media = self.media.open(call.id)
        except TelephonyError as e:
            call.event("error", leg, error=str(e))
            self.switch._fail(call, "congestion")
            return
        leg.media.leg = leg
        leg.media.set_remote(offer.host, offer.port)
        leg.media.codec_pt = offer.first_g711
        leg.media.codec = offer.codec(offer.first_g711)
        leg.media.te_pt = offer.telephone_event
        if self.config.records(trunk=leg.trunk, seat=seat if seat else (callee if callee in self.config.seats else None)):
            self.switch.record(call)
        self.switch.incoming(call)

    # ---------------------------------------------------------------- outgoing legs
    def open_leg(self, call, target: Target, number: str) -> SipLeg | None:
        a = call.a
        if target.kind == "seat":
            b = self.registered(target.arg)
            if b is None:
                call.event("unregistered", None, seat=target.arg)
                return None
            uri, addr, trunk, seat = b.contact, b.addr, None, target.arg
            to_uri = f"sip:{target.arg}@{self.host}"
            if self.config.records(seat=seat) and call.recording is None:
                self.switch.record(call)
        else:
            t = self.config.trunks[target.arg]
            if isinstance(t, E1Trunk):
                return None
            uri = f"sip:{number}@{t.host}:{t.port}"
            addr, trunk, seat, to_uri = (t.host, t.port), t.name, None, uri
            if self.config.records(trunk=t.name) and call.recording is None:
                self.switch.record(call)
        call_id = sipmsg.new_call_id(self.host)
        tag = sipmsg.new_tag()
        leg = SipLeg(self, call, direction="out", trunk=trunk, seat=seat, peer=target.arg if seat else number,
                     call_id=call_id, addr=addr, local_tag=tag)
        try:
            leg.media = self.media.open(call.id)
        except TelephonyError as e:
            call.event("error", leg, error=str(e))
            leg._ended("failed")
            return leg
        leg.media.leg = leg
        offered = getattr(a, "offer", None)
        if offered is not None:
            codecs = tuple(dict.fromkeys(offered.codec(pt) for pt in offered.payloads
                                         if offered.codec(pt) in sdp.CODECS))
        else:
            codecs = ("PCMA",)                    # an E1 caller: A-law end to end
        body = sdp.offer(self.config.media_host, leg.media.port, prefer=codecs)
        leg.local_sdp = body
        leg.local_uri = f"<sip:{call.caller or 'anonymous'}@{self.host}>;tag={tag}"
        leg.remote_uri = f"<{to_uri}>"
        leg.cseq = 1
        inv = SipMessage(method="INVITE", uri=uri)
        inv.headers = [("Via", self.via(addr)), ("Max-Forwards", "70"), ("From", leg.local_uri),
                       ("To", leg.remote_uri), ("Call-ID", call_id), ("CSeq", "1 INVITE"),
                       ("Contact", self.contact()), ("Allow", ALLOW), ("Content-Type", "application/sdp")]
        inv.body = body
        leg.invite = inv
        leg.ctx = self.transport.request(inv, addr, leg.on_invite_response)
        return leg
