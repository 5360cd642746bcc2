"""libpri (Debian package libpri-dev) as a PRI peer, driven through ``pri_new_cb()``.

The D channel is a ``SOCK_SEQPACKET`` socket pair: libpri reads and writes whole frames with
two trailing FCS octets (as it does on a DAHDI HDLC channel); the other end goes to our
:class:`drivers.e1_card.pri.SocketDChannel`.  libpri keeps time with the wall clock, so the
peer runs in real time: call :meth:`LibPri.run_once` often (every few ms).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import socket

from ..errors import BackendError

PRI_NETWORK, PRI_CPE = 1, 2
PRI_SWITCH_EUROISDN_E1 = 5
EVENT_NAMES = {1: "DCHAN_UP", 2: "DCHAN_DOWN", 3: "RESTART", 4: "CONFIG_ERR", 5: "RING", 6: "HANGUP",
               7: "RINGING", 8: "ANSWER", 9: "HANGUP_ACK", 10: "RESTART_ACK", 13: "PROCEEDING",
               14: "SETUP_ACK", 15: "HANGUP_REQ", 17: "PROGRESS", 27: "CONNECT_ACK"}
TRANS_CAP_SPEECH = 0x0
LAYER_1_ALAW = 0x23
CAUSE_NORMAL = 16

_IO_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Ring(ctypes.Structure):
    """The leading fields of ``pri_event_ring`` (libpri.h), up to the call pointer."""

    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int), ("callingpres", ctypes.c_int),
                ("callingplanani", ctypes.c_int), ("callingplan", ctypes.c_int),
                ("callingani", ctypes.c_char * 256), ("callingnum", ctypes.c_char * 256),
                ("callingname", ctypes.c_char * 256), ("calledplan", ctypes.c_int), ("ani2", ctypes.c_int),
                ("callednum", ctypes.c_char * 256), ("redirectingnum", ctypes.c_char * 256),
                ("redirectingname", ctypes.c_char * 256), ("redirectingreason", ctypes.c_int),
                ("callingplanrdnis", ctypes.c_int), ("useruserinfo", ctypes.c_char * 260),
                ("flexible", ctypes.c_int), ("cref", ctypes.c_int), ("ctype", ctypes.c_int),
                ("layer1", ctypes.c_int), ("complete", ctypes.c_int), ("call", ctypes.c_void_p)]


class _Hangup(ctypes.Structure):
    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int), ("cause", ctypes.c_int),
                ("cref", ctypes.c_int), ("call", ctypes.c_void_p)]


class _Answer(ctypes.Structure):  # also pri_event_ringing
    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int), ("cref", ctypes.c_int),
                ("progress", ctypes.c_int), ("progressmask", ctypes.c_int), ("call", ctypes.c_void_p)]


def load() -> ctypes.CDLL:
    name = ctypes.util.find_library("pri") or "libpri.so.1.4"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise BackendError(f"libpri cannot be loaded ({exc}); install libpri-dev") from None
    vp, i = ctypes.c_void_p, ctypes.c_int
    lib.pri_new_cb.restype = vp
    lib.pri_new_cb.argtypes = [i, i, i, _IO_CB, _IO_CB, vp]
    lib.pri_check_event.restype = vp
    lib.pri_check_event.argtypes = [vp]
    lib.pri_schedule_run.restype = vp
    lib.pri_schedule_run.argtypes = [vp]
    lib.pri_schedule_next.restype = ctypes.POINTER(_Timeval)
    lib.pri_schedule_next.argtypes = [vp]
    lib.pri_new_call.restype = vp
    lib.pri_new_call.argtypes = [vp]
    lib.pri_sr_new.restype = vp
    lib.pri_sr_free.argtypes = [vp]
    lib.pri_sr_set_channel.argtypes = [vp, i, i, i]
    lib.pri_sr_set_bearer.argtypes = [vp, i, i]
    lib.pri_sr_set_called.argtypes = [vp, ctypes.c_char_p, i, i]
    lib.pri_sr_set_caller.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p, i, i]
    lib.pri_setup.argtypes = [vp, vp, vp]
    for fn in ("pri_proceeding", "pri_acknowledge", "pri_answer"):
        getattr(lib, fn).argtypes = [vp, vp, i, i]
    lib.pri_hangup.argtypes = [vp, vp, i]
    lib.pri_set_debug.argtypes = [vp, i]
    return lib


class LibPri:
    """One libpri D channel over a socket pair.  ``events`` collects ``(name, info)``."""

    def __init__(self, network: bool, sock: socket.socket) -> None:
        self.lib = load()
        self.sock = sock
        sock.setblocking(False)
        self._fd = sock.fileno()
        self._read_cb = _IO_CB(self._read)
        self._write_cb = _IO_CB(self._write)
        self.pri = self.lib.pri_new_cb(self._fd, PRI_NETWORK if network else PRI_CPE,
                                       PRI_SWITCH_EUROISDN_E1, self._read_cb, self._write_cb, None)
        if not self.pri:
            raise BackendError("pri_new_cb() failed")
        self.events: list[tuple[str, dict]] = []
        self.calls: dict[int, dict] = {}  # call pointer -> info
        self.auto_answer = True
        self.up = False

    # libpri I/O callbacks: whole frames, FCS octets included
    def _read(self, pri, buf, buflen):
        try:
            data = os.read(self._fd, buflen)
        except BlockingIOError:
            ctypes.set_errno(errno.EAGAIN)
            return -1
        ctypes.memmove(buf, data, len(data))
        return len(data)

    def _write(self, pri, buf, buflen):
        try:
            return os.write(self._fd, ctypes.string_at(buf, buflen))
        except BlockingIOError:
            return 0

    def run_once(self) -> None:
        """Handle what has arrived and any due timer."""
        while select.select([self._fd], [], [], 0)[0]:
            self._event(self.lib.pri_check_event(self.pri))
        self._event(self.lib.pri_schedule_run(self.pri))

    def _event(self, ptr) -> None:
        if not ptr:
            return
        e = ctypes.cast(ptr, ctypes.POINTER(ctypes.c_int))[0]
        name = EVENT_NAMES.get(e, str(e))
        info: dict = {}
        if name == "DCHAN_UP":
            self.up = True
        elif name == "DCHAN_DOWN":
            self.up = False
        elif name == "RING":
            r = ctypes.cast(ptr, ctypes.POINTER(_Ring)).contents
            info = {"channel": r.channel & 0xFF, "called": r.callednum.decode(), "calling": r.callingnum.decode(),
                    "call": r.call}
            self.calls[r.call] = info
            if self.auto_answer:
                ch = r.channel
                self.lib.pri_proceeding(self.pri, r.call, ch, 0)
                self.lib.pri_acknowledge(self.pri, r.call, ch, 1)
                self.lib.pri_answer(self.pri, r.call, ch, 0)
        elif name in ("HANGUP", "HANGUP_REQ", "HANGUP_ACK"):
            h = ctypes.cast(ptr, ctypes.POINTER(_Hangup)).contents
            info = {"channel": h.channel & 0xFF, "cause": h.cause, "call": h.call}
            if name in ("HANGUP", "HANGUP_REQ") and h.call:
                self.lib.pri_hangup(self.pri, h.call, h.cause)
        elif name in ("ANSWER", "RINGING", "PROCEEDING"):
            a = ctypes.cast(ptr, ctypes.POINTER(_Answer)).contents
            info = {"channel": a.channel & 0xFF, "call": a.call}
        self.events.append((name, info))

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def call(self, called: str, calling: str, channel: int) -> int:
        """Place a call (SETUP) on B channel ``channel``; returns the call pointer."""
        c = self.lib.pri_new_call(self.pri)
        sr = self.lib.pri_sr_new()
        try:
            self.lib.pri_sr_set_channel(sr, channel, 1, 0)
            self.lib.pri_sr_set_bearer(sr, TRANS_CAP_SPEECH, LAYER_1_ALAW)
            self.lib.pri_sr_set_called(sr, called.encode(), 0x00, 1)
            self.lib.pri_sr_set_caller(sr, calling.encode(), None, 0x00, 0)
            if self.lib.pri_setup(self.pri, c, sr):
                raise BackendError("pri_setup() failed")
        finally:
            self.lib.pri_sr_free(sr)
        return c

    def hangup(self, call_ptr: int, cause: int = CAUSE_NORMAL) -> None:
        self.lib.pri_hangup(self.pri, call_ptr, cause)
