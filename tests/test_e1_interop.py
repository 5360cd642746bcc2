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

needs_libpri = pytest.mark.skipif(LIBPRI is not None, reason=f"libpri not available: {LIBPRI}")


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
