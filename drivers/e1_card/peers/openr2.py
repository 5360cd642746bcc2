"""libopenr2 (Debian package libopenr2-dev) as a China No.1 peer on our simulated span.

Debian's libopenr2 (1.3.x) has no custom I/O hooks in its public API: it drives a DAHDI channel
with ``open``/``ioctl``/``read``/``write`` and keeps time with ``gettimeofday``.  We therefore
build a private shared library from the package's own ``libopenr2.a``, with exactly those
symbols renamed (``objcopy --redefine-sym``) to a small shim whose functions call back into
Python.  The shim answers the DAHDI requests openr2 makes (``GET_PARAMS``, ``SETTXBITS``,
``GETRXBITS``, ``GETEVENT`` …) from a :class:`drivers.e1_card.virtual.VirtualSpan`, hands it openr2's MF tone
audio and gives it the span's rx audio, and tells it the simulated time; openr2's own protocol
code and MF engine run unchanged.

Needs a C compiler, ``objcopy`` and ``libopenr2.a``; otherwise :class:`BackendError` says which
is missing.
"""
from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import subprocess
import tempfile

from ..errors import BackendError

OR2_VAR_CHINA = 40
OR2_CALL_WITH_CHARGE, OR2_CALL_NO_CHARGE = 0, 1
OR2_CAUSE_BUSY_NUMBER, OR2_CAUSE_NETWORK_CONGESTION, OR2_CAUSE_UNALLOCATED_NUMBER = 0, 1, 2
OR2_CAUSE_NORMAL_CLEARING = 6
OR2_CATEGORY_NATIONAL_SUBSCRIBER = 0
DAHDI_SIG_CAS = 1 << 15
DAHDI_ELAST = 500
EV_BITSCHANGED = 13

STATIC_LIB = "/usr/lib/x86_64-linux-gnu/libopenr2.a"
_REDEFINE = ("open", "close", "ioctl", "read", "write", "gettimeofday", "stdout", "stderr")

_SHIM_C = r"""
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <sys/time.h>
/* the archive's objects are not position independent: their stdout/stderr references must
   resolve inside this library */
__attribute__((visibility("hidden"))) FILE *scanhub_or2_stdout;
__attribute__((visibility("hidden"))) FILE *scanhub_or2_stderr;
__attribute__((constructor)) static void scanhub_or2_init(void) { scanhub_or2_stdout = stdout; scanhub_or2_stderr = stderr; }
typedef long (*io_cb)(int fd, unsigned long req, void *arg, unsigned long n);
typedef long long (*time_cb)(void);
static io_cb g_io; static time_cb g_time;
void scanhub_or2_set(io_cb io, time_cb t) { g_io = io; g_time = t; }
static long ret(long r) { if (r < 0) { errno = (int)-r; return -1; } return r; }
int scanhub_or2_open(const char *path, int flags, ...) { return (int)ret(g_io(-1, 1, (void *)path, (unsigned long)flags)); }
int scanhub_or2_close(int fd) { return (int)ret(g_io(fd, 2, NULL, 0)); }
int scanhub_or2_ioctl(int fd, unsigned long req, ...) {
  va_list ap; va_start(ap, req); void *arg = va_arg(ap, void *); va_end(ap);
  return (int)ret(g_io(fd, 0x100000000UL | req, arg, 0));
}
long scanhub_or2_read(int fd, void *buf, unsigned long n) { return ret(g_io(fd, 3, buf, n)); }
long scanhub_or2_write(int fd, const void *buf, unsigned long n) { return ret(g_io(fd, 4, (void *)buf, n)); }
int scanhub_or2_gettimeofday(struct timeval *tv, void *tz) {
  long long us = g_time(); tv->tv_sec = us / 1000000; tv->tv_usec = us % 1000000; return 0;
}
"""

_IO_CB = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong)
_TIME_CB = ctypes.CFUNCTYPE(ctypes.c_longlong)
_VP = ctypes.c_void_p
_EV_VOID = ctypes.CFUNCTYPE(None, _VP)
_EV_OFFERED = ctypes.CFUNCTYPE(None, _VP, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)
_EV_INT = ctypes.CFUNCTYPE(None, _VP, ctypes.c_int)
_EV_READ = ctypes.CFUNCTYPE(None, _VP, _VP, ctypes.c_int)
_EV_LOG = ctypes.CFUNCTYPE(None, _VP, ctypes.c_int, ctypes.c_char_p, _VP)
_EV_DIGIT_INT = ctypes.CFUNCTYPE(ctypes.c_int, _VP, ctypes.c_char)
_EV_DIGIT = ctypes.CFUNCTYPE(None, _VP, ctypes.c_char)


_libc = ctypes.CDLL(None)
_libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]


class _Events(ctypes.Structure):
    _fields_ = [("on_call_init", _EV_VOID), ("on_call_offered", _EV_OFFERED),
                ("on_call_accepted", _EV_INT), ("on_call_answered", _EV_VOID),
                ("on_call_disconnect", _EV_INT), ("on_call_end", _EV_VOID),
                ("on_call_read", _EV_READ), ("on_hardware_alarm", _EV_INT), ("on_os_error", _EV_INT),
                ("on_protocol_error", _EV_INT), ("on_line_blocked", _EV_VOID), ("on_line_idle", _EV_VOID),
                ("on_context_log", _EV_LOG), ("on_dnis_digit_received", _EV_DIGIT_INT),
                ("on_ani_digit_received", _EV_DIGIT), ("on_billing_pulse_received", _EV_VOID)]


def build_library(cache_dir: str | None = None) -> str:
    """Path of the rebuilt libopenr2 shared library (built once per libopenr2.a version)."""
    if not os.path.exists(STATIC_LIB):
        raise BackendError(f"{STATIC_LIB} not found: install libopenr2-dev")
    for tool in ("cc", "ar", "objcopy"):
        if shutil.which(tool) is None:
            raise BackendError(f"'{tool}' is needed to rebuild libopenr2 with simulated I/O")
    st = os.stat(STATIC_LIB)
    key = hashlib.sha1(f"{st.st_size}-{st.st_mtime_ns}-{_SHIM_C}".encode()).hexdigest()[:12]
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), f"scanhub-openr2-{os.getuid()}")
    out = os.path.join(cache_dir, f"libopenr2-sim-{key}.so")
    if os.path.exists(out):
        return out
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(dir=cache_dir)
    try:
        subprocess.run(["ar", "x", STATIC_LIB], cwd=work, check=True, capture_output=True, timeout=60)
        objs = sorted(f for f in os.listdir(work) if f.endswith(".o"))
        args = []
        for sym in _REDEFINE:
            args += ["--redefine-sym", f"{sym}=scanhub_or2_{sym}"]
        for o in objs:
            subprocess.run(["objcopy", *args, o], cwd=work, check=True, capture_output=True, timeout=60)
        with open(os.path.join(work, "shim.c"), "w") as fh:
            fh.write(_SHIM_C)
        tmp_out = out + ".tmp"
        subprocess.run(["cc", "-shared", "-fPIC", "-o", tmp_out, "shim.c", *objs, "-lm", "-lpthread"],
                       cwd=work, check=True, capture_output=True, timeout=120)
        os.replace(tmp_out, out)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise BackendError(f"cannot rebuild libopenr2: {exc} {detail[-300:].decode(errors='replace')}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


class OpenR2Peer:
    """libopenr2 running China No.1 on every channel of a simulated span.

    ``events`` collects ``(name, channel, info)``; incoming calls are accepted (B1) and answered
    unless ``decision`` says otherwise (``busy`` …).  Call :meth:`poll` after each span step.
    ``log_level`` is openr2's (0x30 = CAS and MF traces, collected in ``log``; openr2 also
    prints them).

    Note on libopenr2's CN forward side: it answers every A1 with the next *DNIS* digit (its
    check for "next DNIS" comes before "next ANI", and CN uses A1 for both), so it never sends
    the caller's number; run our incoming side with ``request_ani=False`` against it.
    """

    def __init__(self, span, *, max_ani: int = 20, max_dnis: int = 8, channels=None,
                 log_level: int = 0) -> None:
        path = build_library()
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as exc:
            raise BackendError(f"cannot load {path}: {exc}") from None
        self.span = span
        self.channels = tuple(channels or span.config.channels)
        self.events: list[tuple[str, int, dict]] = []
        self.decision = "accept"
        self.auto_answer = True
        self._fd_ts: dict[int, int] = {}
        self._pending_event: dict[int, int] = {}
        self._tx_room: dict[int, int] = {}
        self._last_rx: dict[int, int] = {}
        self._rx: dict[int, bytearray] = {}
        self._chan_ts: dict[int, int] = {}
        self._to_answer: list[int] = []
        self.os_errors = 0
        self.log: list[str] = []
        self.protocol_errors = 0
        lib = self.lib
        self._io_cb = _IO_CB(self._io)
        self._time_cb = _TIME_CB(lambda: int(self.span.now_ms) * 1000 + 1_000_000)
        lib.scanhub_or2_set(self._io_cb, self._time_cb)
        ev = _Events()
        self._cbs = {
            "on_call_init": _EV_VOID(lambda c: self._ev("init", c)),
            "on_call_offered": _EV_OFFERED(self._offered),
            "on_call_accepted": _EV_INT(self._accepted),
            "on_call_answered": _EV_VOID(lambda c: self._ev("answered", c)),
            "on_call_disconnect": _EV_INT(self._disconnect),
            "on_call_end": _EV_VOID(lambda c: self._ev("end", c)),
            "on_call_read": _EV_READ(lambda c, b, n: None),
            "on_hardware_alarm": _EV_INT(lambda c, a: self._ev("alarm", c, alarm=a)),
            "on_os_error": _EV_INT(self._os_error),
            "on_protocol_error": _EV_INT(self._protocol_error),
            "on_line_blocked": _EV_VOID(lambda c: self._ev("blocked", c)),
            "on_line_idle": _EV_VOID(lambda c: self._ev("idle", c)),
            "on_context_log": _EV_LOG(self._log),
            "on_dnis_digit_received": _EV_DIGIT_INT(lambda c, d: 1),
            "on_ani_digit_received": _EV_DIGIT(lambda c, d: None),
            "on_billing_pulse_received": _EV_VOID(lambda c: None),
        }
        for name, cb in self._cbs.items():
            setattr(ev, name, cb)
        self._events_struct = ev
        lib.openr2_context_new.restype = _VP
        lib.openr2_context_new.argtypes = [_VP, _VP, _VP, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.openr2_chan_new_from_fd.restype = _VP
        lib.openr2_chan_new_from_fd.argtypes = [_VP, ctypes.c_int, _VP, _VP]
        for fn in ("openr2_chan_process_event", "openr2_chan_set_idle", "openr2_chan_answer_call",
                   "openr2_chan_handle_cas"):
            getattr(lib, fn).argtypes = [_VP]
        lib.openr2_chan_accept_call.argtypes = [_VP, ctypes.c_int]
        lib.openr2_chan_disconnect_call.argtypes = [_VP, ctypes.c_int]
        lib.openr2_chan_make_call.argtypes = [_VP, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        lib.openr2_chan_get_number.argtypes = [_VP]
        lib.openr2_context_set_log_level.argtypes = [_VP, ctypes.c_int]
        self.ctx = lib.openr2_context_new(None, ctypes.addressof(ev), None, OR2_VAR_CHINA, max_ani, max_dnis)
        if not self.ctx:
            raise BackendError("openr2_context_new() failed")
        lib.openr2_context_set_log_level(self.ctx, log_level)
        self.chans: dict[int, int] = {}
        for ts in self.channels:
            fd = 5000 + ts
            self._fd_ts[fd] = ts
            self._rx[ts] = bytearray()
            self._last_rx[ts] = span.rx_abcd(ts)
            ch = lib.openr2_chan_new_from_fd(self.ctx, fd, None, None)
            if not ch:
                raise BackendError(f"openr2_chan_new_from_fd() failed for channel {ts}")
            self.chans[ts] = ch
            self._chan_ts[ch] = ts
            lib.openr2_chan_set_idle(ch)

    # ------------------------------------------------------------------ events from openr2
    def _ts(self, chan) -> int:
        return self._chan_ts.get(chan, 0)

    def _ev(self, name, chan, **info) -> None:
        self.events.append((name, self._ts(chan), info))

    def _offered(self, chan, ani, dnis, category) -> None:
        self._ev("offered", chan, ani=(ani or b"").decode(), dnis=(dnis or b"").decode(), category=category)
        if self.decision == "accept":
            self.lib.openr2_chan_accept_call(chan, OR2_CALL_WITH_CHARGE)
        else:
            cause = {"busy": OR2_CAUSE_BUSY_NUMBER, "congestion": OR2_CAUSE_NETWORK_CONGESTION,
                     "unallocated": OR2_CAUSE_UNALLOCATED_NUMBER}[self.decision]
            self.lib.openr2_chan_disconnect_call(chan, cause)

    def _accepted(self, chan, mode) -> None:
        self._ev("accepted", chan, mode=mode)
        if self.auto_answer and self.lib.openr2_chan_get_number(chan) is not None:
            self._to_answer.append(chan)

    def _disconnect(self, chan, cause) -> None:
        self._ev("disconnect", chan, cause=cause)
        self.lib.openr2_chan_disconnect_call(chan, OR2_CAUSE_NORMAL_CLEARING)

    def _log(self, ctx, level, fmt, ap) -> None:
        buf = ctypes.create_string_buffer(512)
        _libc.vsnprintf(buf, 512, fmt, ap)
        self.log.append(buf.value.decode(errors="replace").rstrip())
        if len(self.log) > 5000:
            del self.log[:2500]

    def _os_error(self, chan, code) -> None:
        self.os_errors += 1
        self._ev("os_error", chan, code=code)

    def _protocol_error(self, chan, code) -> None:
        self.protocol_errors += 1
        self._ev("protocol_error", chan, code=code)

    # ------------------------------------------------------------------ DAHDI emulation
    def _io(self, fd, req, arg, n) -> int:
        try:
            return self._io_inner(fd, req, arg, n)
        except Exception:  # never let an exception cross into C
            return -errno.EIO

    def _io_inner(self, fd, req, arg, n) -> int:
        if req == 1:  # open(): openr2 only opens channels we created from fds
            return -errno.ENOENT
        if req == 2:
            return 0
        ts = self._fd_ts.get(fd)
        if ts is None:
            return -errno.EBADF
        if req == 3:  # read
            if self._pending_event.get(ts):
                return -DAHDI_ELAST
            buf = self._rx[ts]
            if not buf:
                return -errno.EAGAIN
            k = min(n, len(buf))
            ctypes.memmove(arg, bytes(buf[:k]), k)
            del buf[:k]
            return k
        if req == 4:  # write: the line takes 20 ms of audio per step, like a DAHDI buffer
            room = self._tx_room.get(ts, 0)
            if room <= 0:
                return -errno.EAGAIN
            k = min(n, room)
            self.span.write_audio(ts, ctypes.string_at(arg, k))
            self._tx_room[ts] = room - k
            return k
        req &= 0xFFFFFFFF
        nr, typ, direction = req & 0xFF, (req >> 8) & 0xFF, req >> 30
        if typ != 0xDA:
            return -errno.ENOTTY
        ints = ctypes.cast(arg, ctypes.POINTER(ctypes.c_int)) if arg else None
        if nr == 5:  # GET_PARAMS: channo, spanno, chanpos, sigtype, sigcap, rxisoffhook, rxbits, txbits
            ints[0], ints[1], ints[2] = ts, self.span.number, ts
            ints[3] = ints[4] = DAHDI_SIG_CAS
            ints[6] = self.span.rx_abcd(ts)
            ints[7] = self.span.tx_abcd(ts)
            ints[10] = 2  # A-law
            return 0
        if nr == 43 and direction == 1:  # SETTXBITS (_IOW)
            self.span.set_tx_abcd(ts, ints[0] & 0x0F)
            return 0
        if nr == 43 and direction == 2:  # GETRXBITS (_IOR)
            ints[0] = self.span.rx_abcd(ts)
            return 0
        if nr == 8:  # GETEVENT
            ints[0] = self._pending_event.pop(ts, 0)
            return 0
        if nr == 9:  # IOMUX: report what is ready among what was asked for
            want = ints[0]
            ready = 0
            if self._pending_event.get(ts):
                ready |= 8  # SIGEVENT
            if self._rx[ts]:
                ready |= 1  # READ
            if self._tx_room.get(ts, 0) > 0:
                ready |= 2 | 4  # WRITE, WRITEEMPTY
            ints[0] = ready & (want & 0xFF)
            return 0
        if nr == 34:  # CHANNO
            ints[0] = ts
            return 0
        return 0  # blocksize, flush, law, echo canceller …: accepted

    # ------------------------------------------------------------------ driving
    def poll(self, now_ms: int | None = None) -> None:
        """Feed one step of audio and CAS changes to every channel and let openr2 run."""
        for ts, ch in self.chans.items():
            rx = self.span.rx_abcd(ts)
            if rx != self._last_rx[ts]:
                self._last_rx[ts] = rx
                self._pending_event[ts] = EV_BITSCHANGED
            self._rx[ts] += self.span.read_audio(ts)
            self._tx_room[ts] = 160
            for _ in range(8):
                self.lib.openr2_chan_process_event(ch)
                if not self._rx[ts] and not self._pending_event.get(ts):
                    break
            if len(self._rx[ts]) > 1600:
                del self._rx[ts][:-160]
        while self._to_answer:
            self.lib.openr2_chan_answer_call(self._to_answer.pop(0))

    def make_call(self, ts: int, ani: str, dnis: str) -> None:
        if self.lib.openr2_chan_make_call(self.chans[ts], ani.encode(), dnis.encode(),
                                          OR2_CATEGORY_NATIONAL_SUBSCRIBER):
            raise BackendError(f"openr2_chan_make_call() refused on channel {ts}")

    def hangup(self, ts: int) -> None:
        self.lib.openr2_chan_disconnect_call(self.chans[ts], OR2_CAUSE_NORMAL_CLEARING)

    def names(self, ts: int | None = None) -> list[str]:
        return [n for n, t, _ in self.events if ts is None or t == ts]
