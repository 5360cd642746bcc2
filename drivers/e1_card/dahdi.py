"""DAHDI backend: configuration files, status parsing, ioctl numbers, events, channel I/O.

Pure parts (tested without a card):

* :func:`system_conf` / :func:`chan_dahdi_conf`: ``/etc/dahdi/system.conf`` and the
  ``chan_dahdi.conf``-style channel settings from our trunk configuration;
* :func:`parse_proc_span` (``/proc/dahdi/N``, as ``dahdi_seq_show`` in dahdi-base.c prints it)
  and :func:`parse_dahdi_scan` (``dahdi_scan``'s ``[N]`` blocks of ``key=value``);
* :data:`IOCTL`: ioctl request numbers computed as ``<linux/ioctl.h>`` does
  (``dir << 30 | size << 16 | type << 8 | nr``, type ``0xDA``), sizes from ctypes structs laid
  out like ``<dahdi/user.h>``;
* :func:`decode_event`: ``DAHDI_GETEVENT`` values.

:class:`DahdiSpan` drives real channels through ``/dev/dahdi/channel``: ``DAHDI_SPECIFY``,
``DAHDI_SET_BLOCKSIZE`` (160 bytes = 20 ms of A-law), ``DAHDI_SETTXBITS``/``DAHDI_GETRXBITS``
and ``DAHDI_GETEVENT``.  See ``docs/e1.md`` for running it on a card.
"""
from __future__ import annotations

import ctypes
import os
import re
import time

from .errors import BackendError, DahdiParseError
from .frame import VOICE_TIMESLOTS
from .span import Span, SpanConfig, SpanStatus

# ------------------------------------------------------------------------------- ioctl numbers
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2
DAHDI_CODE = 0xDA


def _ioc(direction: int, nr: int, size: int, typ: int = DAHDI_CODE) -> int:
    if not 0 <= size < (1 << 14):
        raise ValueError("ioctl size does not fit 14 bits")
    return (direction << 30) | (size << 16) | (typ << 8) | nr


def _IOR(nr, size):
    return _ioc(_IOC_READ, nr, size)


def _IOW(nr, size):
    return _ioc(_IOC_WRITE, nr, size)


def _IOWR(nr, size):
    return _ioc(_IOC_READ | _IOC_WRITE, nr, size)


class DahdiSpanInfo(ctypes.Structure):
    """``struct dahdi_spaninfo`` of current dahdi-linux (packed, with the framing-error,
    coding-violation, bit-error, PRBS and errored-second counters) for ``DAHDI_SPANSTAT``."""

    _pack_ = 1
    _fields_ = [("spanno", ctypes.c_int), ("name", ctypes.c_char * 20), ("desc", ctypes.c_char * 40),
                ("alarms", ctypes.c_int), ("txlevel", ctypes.c_int), ("rxlevel", ctypes.c_int),
                ("bpvcount", ctypes.c_int), ("crc4count", ctypes.c_int), ("ebitcount", ctypes.c_int),
                ("fascount", ctypes.c_int), ("fecount", ctypes.c_uint32), ("cvcount", ctypes.c_uint32),
                ("becount", ctypes.c_uint32), ("prbs", ctypes.c_uint32), ("errsec", ctypes.c_uint32),
                ("irqmisses", ctypes.c_int), ("syncsrc", ctypes.c_int),
                ("numchans", ctypes.c_int), ("totalchans", ctypes.c_int), ("totalspans", ctypes.c_int),
                ("lbo", ctypes.c_int), ("lineconfig", ctypes.c_int), ("lboname", ctypes.c_char * 40),
                ("location", ctypes.c_char * 40), ("manufacturer", ctypes.c_char * 40),
                ("devicetype", ctypes.c_char * 40), ("irq", ctypes.c_int), ("linecompat", ctypes.c_int),
                ("spantype", ctypes.c_char * 6)]


class DahdiParams(ctypes.Structure):
    """``struct dahdi_params`` (``DAHDI_GET_PARAMS``)."""

    _fields_ = [(n, ctypes.c_int) for n in ("channo", "spanno", "chanpos", "sigtype", "sigcap",
                                           "rxisoffhook", "rxbits", "txbits", "txhooksig",
                                           "rxhooksig", "curlaw", "idlebits")] + \
               [("name", ctypes.c_char * 40)] + \
               [(n, ctypes.c_int) for n in ("prewinktime", "preflashtime", "winktime", "flashtime",
                                           "starttime", "rxwinktime", "rxflashtime", "debouncetime",
                                           "pulsebreaktime", "pulsemaketime", "pulseaftertime")] + \
               [("chan_alarms", ctypes.c_uint32)]


_INT = ctypes.sizeof(ctypes.c_int)
#: request numbers as current dahdi-linux ``include/dahdi/user.h`` defines them (older
#: releases differ: SET_BLOCKSIZE was nr 2, GETRXBITS nr 45, GET_PARAMS read-only)
IOCTL = {
    "GET_BLOCKSIZE": _IOR(1, _INT),
    "SET_BLOCKSIZE": _IOW(1, _INT),
    "FLUSH": _IOW(3, _INT),
    "GET_PARAMS": _IOWR(5, ctypes.sizeof(DahdiParams)),
    "HOOK": _IOW(7, _INT),
    "GETEVENT": _IOR(8, _INT),
    "IOMUX": _IOWR(9, _INT),
    "SPANSTAT": _IOWR(10, ctypes.sizeof(DahdiSpanInfo)),
    "CHANNO": _IOR(34, _INT),
    "SPECIFY": _IOW(38, _INT),
    "SETLAW": _IOW(39, _INT),
    "GETRXBITS": _IOR(43, _INT),
    "SETTXBITS": _IOW(43, _INT),
}

# ------------------------------------------------------------------------------- events
EVENTS = {0: "NONE", 1: "ONHOOK", 2: "RINGOFFHOOK", 3: "WINKFLASH", 4: "ALARM", 5: "NOALARM",
          6: "ABORT", 7: "OVERRUN", 8: "BADFCS", 9: "DIALCOMPLETE", 10: "RINGERON",
          11: "RINGEROFF", 12: "HOOKCOMPLETE", 13: "BITSCHANGED", 14: "PULSE_START",
          15: "TIMER_EXPIRED", 16: "TIMER_PING", 17: "POLARITY", 18: "RINGBEGIN",
          19: "EC_DISABLED", 20: "REMOVED", 21: "NEONMWI_ACTIVE", 22: "NEONMWI_INACTIVE"}
EVENT_PULSEDIGIT = 1 << 16
EVENT_DTMFDOWN = 1 << 17
EVENT_DTMFUP = 1 << 18

ALARM_BITS = {1: "RECOVERING", 2: "LOOP", 4: "YELLOW", 8: "RED", 16: "BLUE", 32: "NOTOPEN"}
CONFIG_BITS = {"D4": 1 << 4, "ESF": 1 << 5, "AMI": 1 << 6, "B8ZS": 1 << 7, "CCS": 1 << 8,
               "HDB3": 1 << 9, "CRC4": 1 << 10}
LAW_ALAW = 2
#: read()/write() fail with this errno while a signalling event waits (DAHDI's ELAST)
DAHDI_ELAST = 500


def decode_event(value: int) -> tuple[str, str | None]:
    """``DAHDI_GETEVENT`` value -> (event name, digit or None)."""
    if value < 0:
        raise DahdiParseError(f"negative DAHDI event {value}")
    for flag, name in ((EVENT_PULSEDIGIT, "PULSEDIGIT"), (EVENT_DTMFDOWN, "DTMFDOWN"),
                       (EVENT_DTMFUP, "DTMFUP")):
        if value & flag:
            return name, chr(value & 0xFFFF)
    name = EVENTS.get(value)
    if name is None:
        raise DahdiParseError(f"unknown DAHDI event {value}")
    return name, None


def decode_alarms(bits: int) -> list[str]:
    return [name for bit, name in ALARM_BITS.items() if bits & bit]


# ------------------------------------------------------------------------------- channel numbers
def base_channel(span: int, spans_before: list[int] | None = None) -> int:
    """First DAHDI channel number of ``span`` when every span before it is an E1 (31
    channels); ``spans_before`` gives the real channel counts when they differ."""
    counts = spans_before if spans_before is not None else [31] * (span - 1)
    return 1 + sum(counts)


def _ranges(numbers) -> str:
    nums = sorted(numbers)
    out, start, prev = [], None, None
    for n in nums:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(out)


# ------------------------------------------------------------------------------- config files
def system_conf(trunks, *, loadzone: str = "cn") -> str:
    """``/etc/dahdi/system.conf`` for the trunks (list of :class:`trunks.Trunk`)."""
    lines = ["# /etc/dahdi/system.conf generated by scanhub: E1 trunks", ""]
    for t in trunks:
        c = t.config
        base = base_channel(c.span) - 1
        voice = [base + ts for ts in c.channels]
        opts = [str(c.span), str(c.timing), str(c.lbo), c.signalling, c.line_code]
        if c.crc4:
            opts.append("crc4")
        lines.append(f"# span {c.span}: {c.name} ({c.protocol})")
        lines.append("span=" + ",".join(opts))
        if c.signalling == "cas":
            lines.append(f"cas={_ranges(voice)}:{c.idle_abcd:04b}")
        else:
            lines.append(f"bchan={_ranges(voice)}")
            lines.append(f"hardhdlc={base + 16}")
        if t.echocanceller:
            lines.append(f"echocanceller={t.echocanceller},{_ranges(voice)}")
        lines.append("")
    lines += [f"loadzone={loadzone}", f"defaultzone={loadzone}", ""]
    return "\n".join(lines)


def chan_dahdi_conf(trunks) -> str:
    """``chan_dahdi.conf``-style ``[channels]`` settings for the same trunks."""
    lines = ["; chan_dahdi.conf channels generated by scanhub: E1 trunks", "[channels]"]
    for t in trunks:
        c = t.config
        base = base_channel(c.span) - 1
        voice = _ranges(base + ts for ts in c.channels)
        lines.append(f"; span {c.span}: {c.name}")
        lines.append(f"context={t.context}")
        lines.append(f"group={t.group}")
        if c.protocol == "r2-cn":
            lines += ["signalling=mfcr2", "mfcr2_variant=cn", "mfcr2_get_ani_first=yes",
                      f"mfcr2_max_ani={t.max_ani}", f"mfcr2_max_dnis={t.max_dnis}",
                      f"mfcr2_category={t.category}", "mfcr2_logdir=span%d" % c.span,
                      "mfcr2_logging=cas,mf"]
        else:
            lines += [f"signalling={'pri_net' if c.protocol == 'pri-net' else 'pri_cpe'}",
                      f"switchtype={t.switchtype}"]
        lines.append(f"channel => {voice}")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- status parsing
_SPAN_HEAD = re.compile(r'^Span (\d+): (\S*) +"(.*)"(.*)$')
_LINE_WORDS = {"HDB3", "AMI", "B8ZS"}
_FRAMING_WORDS = {"CCS", "CAS", "ESF", "D4"}
_CHAN_LINE = re.compile(r"^\s*(\d+) (\S+) ?(.*)$")
_COUNTERS = {"BPV count": "bpv", "CRC4 error count": "crc4_errors", "E-bit error count": "ebit_errors",
             "FAS error count": "fas_errors", "IRQ misses": "irq_misses", "Timing slips": "slips"}
_ALARM_WORDS = {"BLUE", "YELLOW", "RED", "LOOP", "RECOVERING", "NOTOPEN"}


def parse_proc_span(text: str) -> dict:
    """Parse ``/proc/dahdi/N``.

    Returns ``{"span", "name", "description", "master", "line_code", "framing", "crc4",
    "alarms", "clock_source", "counters", "channels": [{"channel", "name", "signalling",
    "in_use", "alarms", "echo_canceller"}]}``.
    """
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise DahdiParseError("empty /proc/dahdi text")
    m = _SPAN_HEAD.match(lines[0])
    if not m:
        raise DahdiParseError(f"not a /proc/dahdi span header: {lines[0]!r}")
    rest = m.group(4).split()
    out = {"span": int(m.group(1)), "name": m.group(2), "description": m.group(3),
           "master": False, "line_code": None, "framing": None, "crc4": False, "alarms": [],
           "clock_source": False, "counters": {}, "channels": []}
    for word in rest:
        if word == "(MASTER)":
            out["master"] = True
        elif "/" in word and set(word.split("/")) <= _LINE_WORDS | _FRAMING_WORDS | {"CRC4", ""}:
            # dahdi-base prints "HDB3/CCS/CRC4" ("HDB3//CRC4" for CAS); some drivers' notes
            # show "CCS/HDB3/CRC4": take the words by meaning, not by position
            parts = word.split("/")
            out["line_code"] = next((w for w in parts if w in _LINE_WORDS), None)
            out["framing"] = next((w for w in parts if w in _FRAMING_WORDS), "CAS")
            out["crc4"] = "CRC4" in parts
        elif word in _ALARM_WORDS:
            out["alarms"].append(word)
        elif word == "ClockSource":
            out["clock_source"] = True
        else:
            raise DahdiParseError(f"unexpected word {word!r} in span header")
    for line in lines[1:]:
        if not line.strip():
            continue
        s = line.strip()
        key, sep, val = s.partition(":")
        if sep and key in _COUNTERS:
            try:
                out["counters"][_COUNTERS[key]] = int(val)
            except ValueError:
                raise DahdiParseError(f"bad counter line {line!r}") from None
            continue
        cm = _CHAN_LINE.match(line)
        if not cm:
            raise DahdiParseError(f"unexpected line {line!r}")
        tail = cm.group(3)
        ec = None
        em = re.search(r"\(EC: (.*?) - (ACTIVE|INACTIVE)\)", tail)
        if em:
            ec = {"name": em.group(1), "active": em.group(2) == "ACTIVE"}
            tail = tail[:em.start()] + tail[em.end():]
        in_use = "(In use)" in tail
        tail = tail.replace("(In use)", "").replace("(no pcm)", "")
        words = tail.split()
        alarms = [w for w in words if w in _ALARM_WORDS]
        sig = " ".join(w for w in words if w not in _ALARM_WORDS and w != "Master") or None
        out["channels"].append({"channel": int(cm.group(1)), "name": cm.group(2),
                                "signalling": sig, "in_use": in_use, "alarms": alarms,
                                "echo_canceller": ec})
    return out


_SCAN_ALARMS = {"BLU": "BLUE", "YEL": "YELLOW", "RED": "RED", "LFA": "LFA", "LMFA": "LMFA",
                "LB": "LOOP", "REC": "RECOVERING", "NOP": "NOTOPEN", "UUU": "UNKNOWN"}


def parse_dahdi_scan(text: str) -> list[dict]:
    """Parse ``dahdi_scan`` output into one dict per span (values as text, ``alarms`` as a
    list, ``basechan``/``totchans``/``irq``/``syncsrc`` as ints, ``port`` entries as a list)."""
    spans: list[dict] = []
    cur: dict | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = re.fullmatch(r"\[(\d+)\]", line)
        if m:
            cur = {"span": int(m.group(1)), "ports": []}
            spans.append(cur)
            continue
        if cur is None:
            raise DahdiParseError(f"line {n}: data before the first [span] header: {line!r}")
        key, sep, val = line.partition("=")
        if not sep or not key:
            raise DahdiParseError(f"line {n}: not key=value: {line!r}")
        if key in ("basechan", "totchans", "irq", "syncsrc"):
            try:
                cur[key] = int(val)
            except ValueError:
                raise DahdiParseError(f"line {n}: {key} is not a number: {val!r}") from None
        elif key == "port":
            num, _, kind = val.partition(",")
            cur["ports"].append({"channel": int(num), "kind": kind})
        elif key == "alarms":
            words = val.split("/")
            cur["alarms_text"] = val
            if val in ("OK", "UNCONFIGURED"):
                cur["alarms"] = []
            else:
                cur["alarms"] = [_SCAN_ALARMS.get(w, w) for w in words if w != "OK"]
            cur["configured"] = val != "UNCONFIGURED"
        elif key in ("coding_opts", "framing_opts"):
            cur[key] = [w for w in val.split(",") if w]
        else:
            cur[key] = val
    return spans


def status_from_proc(text: str) -> SpanStatus:
    p = parse_proc_span(text)
    channels = {}
    for ch in p["channels"]:
        state = "alarm" if ch["alarms"] else ("in-use" if ch["in_use"] else "idle")
        channels[ch["channel"]] = state
    alarms = []
    mapping = {"RED": "LOF", "YELLOW": "RAI", "BLUE": "AIS"}
    for a in p["alarms"]:
        alarms.append(mapping.get(a, a))
    framing = f"{p['framing'] or '?'}/{p['line_code'] or '?'}" + ("/CRC4" if p["crc4"] else "")
    return SpanStatus(p["span"], p["name"], alarms, p["counters"], channels, framing)


# ------------------------------------------------------------------------------- the backend
class DahdiSpan(Span):
    """A span on a DAHDI card.  Channels are opened lazily with ``open_channels()``."""

    def __init__(self, config: SpanConfig, *, dev: str = "/dev/dahdi/channel",
                 proc_dir: str = "/proc/dahdi", base: int | None = None) -> None:
        super().__init__(config)
        self.dev = dev
        self.proc_dir = proc_dir
        self.base = base if base is not None else base_channel(config.span) - 1
        self._fds: dict[int, int] = {}
        self._rx_bits = {ts: 0 for ts in config.channels}
        self._t0 = time.monotonic()
        if not os.path.exists(dev):
            raise BackendError(f"{dev} does not exist: is the DAHDI driver loaded (modprobe dahdi "
                               "and the card's driver) and the span configured (dahdi_cfg)?")

    @property
    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def open_channels(self, blocksize: int = 160) -> None:
        import fcntl
        for ts in self.config.channels:
            chan = self.base + ts
            try:
                fd = os.open(self.dev, os.O_RDWR | os.O_NONBLOCK)
                fcntl.ioctl(fd, IOCTL["SPECIFY"], ctypes.c_int(chan))
                fcntl.ioctl(fd, IOCTL["SET_BLOCKSIZE"], ctypes.c_int(blocksize))
                fcntl.ioctl(fd, IOCTL["SETLAW"], ctypes.c_int(LAW_ALAW))
            except OSError as exc:
                raise BackendError(f"DAHDI channel {chan}: {exc.strerror}") from None
            self._fds[ts] = fd

    def _fd(self, ts: int) -> int:
        fd = self._fds.get(ts)
        if fd is None:
            raise BackendError(f"span {self.number} channel {ts} is not open")
        return fd

    def set_tx_abcd(self, ts: int, abcd: int) -> None:
        import fcntl
        fcntl.ioctl(self._fd(ts), IOCTL["SETTXBITS"], ctypes.c_int(abcd))

    def rx_abcd(self, ts: int) -> int:
        import fcntl
        v = ctypes.c_int(0)
        fcntl.ioctl(self._fd(ts), IOCTL["GETRXBITS"], v)
        return v.value

    def write_audio(self, ts: int, data: bytes) -> None:
        try:
            os.write(self._fd(ts), data)
        except BlockingIOError:
            pass

    def read_audio(self, ts: int) -> bytes:
        out = bytearray()
        while True:
            try:
                chunk = os.read(self._fd(ts), 160)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == DAHDI_ELAST:  # an event is waiting: read it, then go on
                    self._drain_events(ts)
                    continue
                raise
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def _drain_events(self, ts: int) -> None:
        import fcntl
        v = ctypes.c_int(0)
        fcntl.ioctl(self._fd(ts), IOCTL["GETEVENT"], v)
        name, _ = decode_event(v.value)
        if name == "BITSCHANGED":
            self._emit("abcd", ts, self.rx_abcd(ts))
        elif name in ("ALARM", "NOALARM"):
            self._emit("alarms", None, self.status().alarms)

    def status(self) -> SpanStatus:
        path = os.path.join(self.proc_dir, str(self.number))
        try:
            with open(path, encoding="utf-8") as fh:
                return status_from_proc(fh.read())
        except OSError as exc:
            raise BackendError(f"cannot read {path}: {exc.strerror}") from None

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class DahdiDChannel:
    """The D channel of a CCS span on a card (``hardhdlc`` timeslot 16): whole HDLC frames,
    DAHDI computes and checks the FCS and hands frames over with two FCS octets appended.
    Use it as the ``dchannel`` of :class:`drivers.e1_card.pri.PriStack`."""

    def __init__(self, span: int, *, dev: str = "/dev/dahdi/channel", base: int | None = None) -> None:
        import fcntl
        base = base if base is not None else base_channel(span) - 1
        try:
            self.fd = os.open(dev, os.O_RDWR | os.O_NONBLOCK)
            fcntl.ioctl(self.fd, IOCTL["SPECIFY"], ctypes.c_int(base + 16))
        except OSError as exc:
            raise BackendError(f"D channel of span {span} ({dev}, channel {base + 16}): {exc.strerror}") from None

    def send(self, frame: bytes) -> None:
        os.write(self.fd, frame + b"\0\0")  # DAHDI fills in the FCS

    def recv(self) -> list[bytes]:
        out = []
        while True:
            try:
                data = os.read(self.fd, 1024)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == DAHDI_ELAST:  # a D-channel event (abort, bad FCS): read and drop
                    import fcntl
                    fcntl.ioctl(self.fd, IOCTL["GETEVENT"], ctypes.c_int(0))
                    continue
                raise BackendError(f"D channel read failed: {exc.strerror}") from None
            if not data:
                break
            if len(data) > 2:
                out.append(data[:-2])
        return out

    def close(self) -> None:
        os.close(self.fd)


__all__ = ["DahdiDChannel", "IOCTL", "DahdiSpan", "decode_event", "parse_proc_span", "parse_dahdi_scan",
           "system_conf", "chan_dahdi_conf", "VOICE_TIMESLOTS"]
