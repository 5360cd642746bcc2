"""Our stacks against implementations someone else wrote, loaded with ctypes.

libpri (libpri-dev): its ``pri_new_cb()`` read/write callbacks run over a SOCK_SEQPACKET
socket pair carrying the D-channel frames; libpri keeps wall-clock time, so these tests run in
real time (well under a second each) and wait on conditions with deadlines.
"""
from __future__ import annotations

import socket
import time

import pytest

from drivers.e1_card.errors import BackendError
from drivers.e1_card.pri import PriStack, SocketDChannel

try:
    from drivers.e1_card.peers import libpri as _libpri
    _libpri.load()
    LIBPRI = None
except BackendError as exc:  # pragma: no cover - depends on the machine
    LIBPRI = str(exc)

needs_libpri = pytest.mark.skipif(LIBPRI is not None, reason=f"needs libpri: {LIBPRI}")


def _now() -> int:
    return int(time.monotonic() * 1000)


class PriPeerRig:
    def __init__(self, ours_network: bool):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.peer = _libpri.LibPri(network=not ours_network, sock=b)
        self.events = []
        self.ours = PriStack(SocketDChannel(a), network=ours_network,
                             listener=lambda e, c: self.events.append((e, c)))
        self.ours.start(_now())
        assert self.until(lambda: self.ours.up and self.peer.up), "D channel did not come up"

    def until(self, pred, seconds=5.0) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.peer.run_once()
            self.ours.poll(_now())
            if pred():
                return True
            time.sleep(0.002)
        return False

    def got(self, event):
        return [c for e, c in self.events if e == event]


@needs_libpri
@pytest.mark.parametrize("ours_network", [False, True], ids=["ours-user", "ours-network"])
def test_libpri_calls_us(ours_network):
    rig = PriPeerRig(ours_network)
    ptr = rig.peer.call("95546", "13800138000", 3)
    assert rig.until(lambda: rig.got("offered"))
    inc = rig.got("offered")[0]
    assert (inc.dnis, inc.ani, inc.channel) == ("95546", "13800138000", 3)
    rig.ours.answer(inc)
    assert rig.until(lambda: "ANSWER" in rig.peer.names() and inc.state == "answered")
    rig.peer.hangup(ptr)
    assert rig.until(lambda: inc.state == "cleared" and not rig.ours._calls)
    assert inc.reason == "normal"


@needs_libpri
@pytest.mark.parametrize("ours_network", [False, True], ids=["ours-user", "ours-network"])
def test_we_call_libpri(ours_network):
    rig = PriPeerRig(ours_network)
    c = rig.ours.dial("80012345", "4008123456")
    assert rig.until(lambda: c.state == "answered")
    ring = [i for n, i in rig.peer.events if n == "RING"][0]
    assert ring["called"] == "80012345" and ring["calling"] == "4008123456" and ring["channel"] == c.channel
    rig.ours.hangup(c)
    assert rig.until(lambda: not rig.ours._calls)
    assert c.reason == "normal" and "HANGUP_REQ" in rig.peer.names()


@needs_libpri
def test_libpri_busy():
    rig = PriPeerRig(False)
    rig.ours.offer_policy = lambda call: "busy"
    rig.peer.call("95546", "1", 5)
    assert rig.until(lambda: any(i.get("cause") == 17 for n, i in rig.peer.events if n.startswith("HANGUP")))
    assert rig.until(lambda: not rig.ours._calls)


# ------------------------------------------------------------------------------ libopenr2
try:
    from drivers.e1_card.peers.openr2 import OpenR2Peer, build_library
    build_library()
    OPENR2 = None
except BackendError as exc:  # pragma: no cover - depends on the machine
    OPENR2 = str(exc)

needs_openr2 = pytest.mark.skipif(OPENR2 is not None, reason=f"needs libopenr2: {OPENR2}")


class R2PeerRig:
    """libopenr2 (CN) on the carrier span, our China No.1 stack on the hub span."""

    def __init__(self, **ours_kw):
        from drivers.e1_card.r2 import R2Stack
        from drivers.e1_card.virtual import VirtualSpanPair
        self.pair = VirtualSpanPair()
        self.peer = OpenR2Peer(self.pair.a, channels=(1, 2, 3))
        self.events = []
        self.ours = R2Stack(self.pair.b, "CN", lambda e, c: self.events.append((e, c)), max_dnis=8, **ours_kw)
        self.pair.tick_hooks += [self.peer.poll, self.ours.poll]
        self.pair.run(100)

    def until(self, pred, ms=20000) -> bool:
        return self.pair.run_until(pred, ms)

    def got(self, event):
        return [c for e, c in self.events if e == event]


@needs_openr2
def test_libopenr2_calls_us():
    rig = R2PeerRig(request_ani=False)  # libopenr2's CN forward side never sends the caller's number
    rig.peer.make_call(1, "13800138000", "80012345")
    assert rig.until(lambda: rig.got("offered"))
    inc = rig.got("offered")[0]
    assert (inc.dnis, inc.channel) == ("80012345", 1)
    rig.ours.channels[1].answer()
    assert rig.until(lambda: "answered" in rig.peer.names(1))
    rig.peer.hangup(1)
    assert rig.until(lambda: rig.ours.channels[1].state == "idle" and inc.state == "cleared")
    assert inc.reason == "normal" and rig.peer.protocol_errors == 0


@needs_openr2
def test_we_call_libopenr2_with_caller_number():
    rig = R2PeerRig()
    c = rig.ours.dial("80012345", "13912345678", channel=2)
    assert rig.until(lambda: c.state in ("answered", "failed"))
    assert c.state == "answered"
    offered = [i for n, t, i in rig.peer.events if n == "offered"][0]
    assert offered["dnis"] == "80012345" and offered["ani"] == "13912345678" and offered["category"] == 0
    rig.ours.channels[2].hangup()
    assert rig.until(lambda: rig.ours.channels[2].state == "idle" and "end" in rig.peer.names(2))
    assert rig.peer.protocol_errors == 0


@needs_openr2
def test_libopenr2_busy_and_clear_back():
    rig = R2PeerRig()
    rig.peer.decision = "busy"
    c = rig.ours.dial("80012345", "139", channel=3)
    assert rig.until(lambda: c.state == "failed")
    assert c.reason == "busy"
    assert rig.until(lambda: rig.ours.channels[3].state == "idle")
    rig.peer.decision = "accept"
    c2 = rig.ours.dial("80012345", "139", channel=3)
    assert rig.until(lambda: c2.state == "answered")
    rig.peer.hangup(3)  # the called party (libopenr2, backward) hangs up: clear-back
    assert rig.until(lambda: rig.got("clear-back"))
    assert c2.reason == "clear-back"
    assert rig.until(lambda: rig.ours.channels[3].state == "idle")
