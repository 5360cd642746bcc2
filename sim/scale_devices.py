"""Simulated scales that speak the exact wire bytes, over pseudo-terminals.

Two layers, like the drivers:

* pure encoders, written from the vendors' manuals independently of the decoders
  (``toledo_continuous_frame``, ``sics_reply``, ``xk3190_frame`` …): display counts in, bytes out;
* :class:`SimScale`, a weighing platform (load, zero, tare, motion while it settles) behind a
  :class:`PtyLink`, streaming continuous protocols at ``rate_hz`` or answering requests for command
  protocols (Toledo 8217, MT-SICS, XK3190 command mode, Modbus RTU as a slave).

``PtyLink`` is generic (scanner simulators use it too): a pty in raw mode whose slave path a driver
opens with pyserial; ``unplug()`` closes the master (the driver sees EIO) and removes the ``link``
symlink if one was given, ``plug()`` makes a new pty and points the link at it, the way udev
manages ``/dev/serial/by-id`` (so a retry never lands on a recycled ``/dev/pts/N`` of someone else).
"""
from __future__ import annotations

import errno
import os
import select
import struct
import threading
import time
import termios
import tty
from decimal import ROUND_HALF_UP, Decimal

from drivers.scale.base import UNIT_GRAMS
from drivers.scale.modbus import crc16, load_map

STX, ETX, EOT, CR, LF = 0x02, 0x03, 0x04, 0x0D, 0x0A


# ---------------------------------------------------------------------------------------------
# pure encoders (display counts = the integer the display shows without its decimal point)
# ---------------------------------------------------------------------------------------------
def display_text(counts: int, decimals: int, width: int) -> str:
    """``counts`` with ``decimals`` places, zero-padded to ``width`` characters (sign not included)."""
    c = abs(counts)
    text = f"{c // 10 ** decimals}.{c % 10 ** decimals:0{decimals}d}" if decimals else str(c)
    return text.rjust(width, "0")


def toledo_checksum(data: bytes) -> int:
    return (0x100 - (sum(b & 0x7F for b in data) & 0x7F)) & 0x7F


def even_parity(b: int) -> int:
    """Put even parity in bit 7, as a 7E1 line read as 8 data bits shows it."""
    return b | 0x80 if bin(b).count("1") % 2 else b


def toledo_continuous_frame(counts: int, decimals: int = 0, unit: str = "kg", *, motion: bool = False,
                            net: bool = False, tare_counts: int = 0, out_of_range: bool = False,
                            checksum: bool = True, parity: bool = False) -> bytes:
    """STX SWA SWB SWC + 6 weight digits + 6 tare digits + CR [+ checksum] (Wildcat/8142 tables)."""
    swa = 0x20 | 0x08 | (2 + decimals)              # bit 5 always 1, increment x1, decimal position
    swb = 0x20 | net | (counts < 0) << 1 | out_of_range << 2 | motion << 3 | (unit in ("kg", "g")) << 4
    swc = 0x20 | (unit == "g")
    frame = bytes([STX, swa, swb, swc]) + f"{abs(counts):06d}{abs(tare_counts):06d}".encode() + bytes([CR])
    if checksum:
        frame += bytes([toledo_checksum(frame)])
    return bytes(even_parity(b) for b in frame) if parity else frame


def toledo_8217_weight(counts: int, decimals: int = 2) -> bytes:
    return bytes([STX]) + display_text(counts, decimals, 7 if decimals else 6).encode() + bytes([CR])


def toledo_8217_status(*, motion=False, over=False, under=False, outside_zero=False, center_zero=False,
                       net=False) -> bytes:
    status = 0x40 | motion | over << 1 | under << 2 | outside_zero << 3 | center_zero << 4 | net << 5
    return bytes([STX, ord("?"), status, CR])


def sics_weight(counts: int, decimals: int, unit: str = "g", *, stable: bool = True, cmd: str = "S",
                status: str | None = None) -> bytes:
    """``S S     100.00 g``: the value right-aligned in 10 characters; ``status`` overrides S/D."""
    value = ("-" if counts < 0 else "") + display_text(counts, decimals, decimals + 2 if decimals else 1)
    return f"{cmd} {status or ('S' if stable else 'D')} {value:>10} {unit}\r\n".encode()


def sics_line(*words: str) -> bytes:
    return (" ".join(words) + "\r\n").encode()


def xor_hex(data: bytes) -> bytes:
    x = 0
    for b in data:
        x ^= b
    return bytes(v + (0x30 if v <= 9 else 0x37) for v in (x >> 4, x & 0x0F))


def xk3190_frame(counts: int, decimals: int = 0) -> bytes:
    """Format 0: STX, sign, 6 digits (high first), decimals, XOR hi, XOR lo, ETX."""
    body = (b"-" if counts < 0 else b"+") + f"{abs(counts):06d}".encode() + str(decimals).encode()
    return bytes([STX]) + body + xor_hex(body) + bytes([ETX])


def xk3190_equals(counts: int, decimals: int = 0, *, reversed_order: bool) -> bytes:
    """Formats 1 (reversed) and 2 (plain): '=' + sign ('0' or '-') + 7 display characters."""
    text = ("-" if counts < 0 else "0") + display_text(counts, decimals, 7)
    return b"=" + (text[::-1] if reversed_order else text).encode()


def xk3190_a12(counts: int, decimals: int = 3, *, net: bool = False, over: bool = False,
               under: bool = False) -> bytes:
    if over or under:
        body = b" " * 9 + (b"OL" if over else b"LO")
    else:
        if decimals:
            text = ("-" if counts < 0 else "") + display_text(counts, decimals, 7 - (counts < 0))
        else:
            text = (("-" if counts < 0 else "") + f"{abs(counts):0{6 - (counts < 0)}d}") + " "
        body = b"W" + (b"N" if net else b"G") + text.encode() + b"kg"
    return body + xor_hex(body) + b"\r\n"


def xk3190_reply(address: str, command: str, counts: int | None = None, decimals: int = 0) -> bytes:
    body = (address + command).encode()
    if counts is not None:
        body += (b"-" if counts < 0 else b"+") + f"{abs(counts):06d}".encode() + str(decimals).encode()
    return bytes([STX]) + body + xor_hex(body) + bytes([ETX])


HID_UNITS = {"mg": 1, "g": 2, "kg": 3, "ct": 4, "oz": 11, "lb": 12}


def hid_report(counts: int, exponent: int = 0, unit: str = "g", *, status: int | None = None) -> bytes:
    """Report 3: status, unit, exponent (signed), weight little-endian."""
    if status is None:
        status = 2 if counts == 0 else 4
    return bytes([3, status, HID_UNITS[unit], exponent & 0xFF, counts & 0xFF, counts >> 8 & 0xFF])


# ---------------------------------------------------------------------------------------------
# a pty a driver can open
# ---------------------------------------------------------------------------------------------
class PtyLink:
    """A pseudo-terminal pair in raw mode; ``path`` is what a driver opens (``link`` if given)."""

    def __init__(self, link: str | None = None):
        self.link = link
        self.master = None
        self._slave = None
        self.plug()

    @property
    def path(self) -> str:
        return self.link or self.tty

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self._slave, self.tty = master, slave, os.ttyname(slave)
        if self.link:
            tmp = f"{self.link}.{os.getpid()}.new"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.tty, tmp)
            os.replace(tmp, self.link)

    def unplug(self) -> None:
        if self.link and os.path.lexists(self.link):  # udev removes the by-id link on unplug too
            os.unlink(self.link)
        for fd in (self.master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self._slave = None

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def keep_settable(self) -> None:
        """Clear CLOCAL on our side of the pty.  Some kernels refuse (EINVAL) a driver's request
        for 7 data bits or parity on a pty whose settings already hold CLOCAL, which the first
        driver to open it leaves behind: every later open of a 7E1 scale would fail."""
        fd = self._slave
        if fd is None:
            return
        try:
            attrs = termios.tcgetattr(fd)
            if attrs[2] & termios.CLOCAL:
                attrs[2] &= ~termios.CLOCAL
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except (termios.error, OSError):
            pass

    def write(self, data: bytes) -> bool:
        """Send bytes to the driver; dropped (``False``) when nobody drains the line, like RS-232."""
        self.keep_settable()
        fd = self.master
        if fd is None:
            return False
        try:
            os.write(fd, data)
            return True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EIO, errno.EBADF):
                return False
            raise

    def read(self, timeout: float = 0.05) -> bytes:
        self.keep_settable()
        fd = self.master
        if fd is None:
            time.sleep(timeout)
            return b""
        try:
            r, _, _ = select.select([fd], [], [], timeout)
            return os.read(fd, 4096) if r else b""
        except OSError:  # EIO while no one has the slave open, or unplugged meanwhile
            time.sleep(timeout)
            return b""

    def close(self) -> None:
        self.unplug()
        if self.link and os.path.lexists(self.link):
            os.unlink(self.link)


# ---------------------------------------------------------------------------------------------
# the simulated platform
# ---------------------------------------------------------------------------------------------
SIM_PROTOCOLS = ("toledo-continuous", "toledo-8217", "mt-sics", "xk3190", "xk3190-reversed", "xk3190-plain",
                 "xk3190-a12", "xk3190-cmd", "modbus")
COMMAND_PROTOCOLS = {"toledo-8217", "mt-sics", "xk3190-cmd", "modbus"}
DEFAULT_DISPLAY = {  # unit, decimals the simulated indicator is set up with
    "toledo-continuous": ("kg", 3), "toledo-8217": ("kg", 3), "mt-sics": ("g", 1), "xk3190": ("kg", 3),
    "xk3190-reversed": ("kg", 3), "xk3190-plain": ("kg", 3), "xk3190-a12": ("kg", 3), "xk3190-cmd": ("kg", 3),
    "modbus": ("kg", 3), "hid-pos-scale": ("g", 0),
}


class SimScale:
    """A weighing platform behind one protocol.  Weights are grams; ``set_weight`` starts a settle
    period (``settle_s``) during which the scale reports motion with a wobbling value."""

    def __init__(self, protocol: str, *, link: str | None = None, rate_hz: float = 10.0, settle_s: float = 0.3,
                 unit: str | None = None, decimals: int | None = None, capacity_g: int = 150_000,
                 modbus_map: str = "tuna-id551pn", address: str = "A", checksum: bool = True,
                 parity: bool = False, start: bool = True):
        if protocol not in SIM_PROTOCOLS:
            raise ValueError(f"no simulator for {protocol!r} (have: {', '.join(SIM_PROTOCOLS)})")
        self.protocol = protocol
        du, dd = DEFAULT_DISPLAY[protocol]
        self.unit = unit or du
        self.decimals = dd if decimals is None else decimals
        self.rate_hz, self.settle_s, self.capacity_g = rate_hz, settle_s, capacity_g
        self.address, self.checksum, self.parity = address, checksum, parity
        self.load_g = 0
        self.zero_g = 0
        self.tare_g = 0
        self._settle_until = 0.0
        self._swing = False
        self.requests: list[bytes] = []       # what the driver sent (command protocols)
        self.frames_sent = 0
        self.link = PtyLink(link)
        self.map = load_map(modbus_map) if protocol == "modbus" else None
        self.registers: dict[int, int] = {}   # modbus: extra registers written by the master
        self.coils: dict[int, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"sim-{protocol}", daemon=True)
        if start:
            self._thread.start()

    # -- the platform -----------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.link.path

    def set_weight(self, grams: int, settle: bool = True) -> None:
        with self._lock:
            self.load_g = int(grams)
            self._settle_until = time.monotonic() + (self.settle_s if settle else 0)

    @property
    def motion(self) -> bool:
        return time.monotonic() < self._settle_until

    def zero(self) -> bool:
        with self._lock:
            if self.motion:
                return False
            self.zero_g = self.load_g
            return True

    def tare(self) -> bool:
        with self._lock:
            if self.motion:
                return False
            self.tare_g = self.load_g - self.zero_g
            return True

    def clear_tare(self) -> None:
        with self._lock:
            self.tare_g = 0

    def gross_g(self) -> int:
        g = self.load_g - self.zero_g
        if self.motion:  # swings of ten divisions either side while it settles
            self._swing = not self._swing
            g += (10 if self._swing else -10) * self.division_g()
        return g

    def division_g(self) -> int:
        return max(1, int(UNIT_GRAMS[self.unit] / 10 ** self.decimals))

    def counts(self, grams: int) -> int:
        return int((Decimal(grams) * 10 ** self.decimals / UNIT_GRAMS[self.unit]).to_integral_value(ROUND_HALF_UP))

    def displayed(self) -> tuple[int, bool, bool, bool]:
        """(net or gross counts, net, over, under) as the display shows them now."""
        gross = self.gross_g()
        over = gross > self.capacity_g
        under = gross < -self.capacity_g // 50
        net = self.tare_g != 0
        return self.counts(gross - self.tare_g), net, over, under

    def unplug(self) -> None:
        self.link.unplug()

    def replug(self) -> None:
        self.link.plug()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self.link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- wire ---------------------------------------------------------------------------------
    def frame(self) -> bytes:
        """The frame a continuous protocol sends now (also the reply to a weigh request)."""
        counts, net, over, under = self.displayed()
        p, d = self.protocol, self.decimals
        if p == "toledo-continuous":
            return toledo_continuous_frame(counts, d, self.unit, motion=self.motion, net=net,
                                           tare_counts=self.counts(self.tare_g), out_of_range=over or under,
                                           checksum=self.checksum, parity=self.parity)
        if p == "xk3190":
            return xk3190_frame(counts, d)
        if p == "xk3190-reversed":
            return xk3190_equals(counts, d, reversed_order=True)
        if p == "xk3190-plain":
            return xk3190_equals(counts, d, reversed_order=False)
        if p == "xk3190-a12":
            return xk3190_a12(counts, d, net=net, over=over, under=under)
        raise ValueError(p)

    def _run(self) -> None:
        if self.protocol in COMMAND_PROTOCOLS:
            self._answer_loop()
        else:
            period = 1.0 / self.rate_hz
            while not self._stop.is_set():
                if self.link.write(self.frame()):
                    self.frames_sent += 1
                self._stop.wait(period)

    def _answer_loop(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            data = self.link.read(0.05)
            if not data:
                if not self.link.plugged:
                    buf.clear()
                continue
            buf += data
            handler = {"toledo-8217": self._answer_8217, "mt-sics": self._answer_sics,
                       "xk3190-cmd": self._answer_xk, "modbus": self._answer_modbus}[self.protocol]
            handler(buf)

    def _reply(self, data: bytes) -> None:
        if self.link.write(data):
            self.frames_sent += 1

    def _answer_8217(self, buf: bytearray) -> None:
        while buf:
            c = chr(buf.pop(0) & 0x7F)
            self.requests.append(c.encode())
            counts, net, over, under = self.displayed()
            if c == "W":
                if self.motion or over or under or counts < 0:
                    self._reply(toledo_8217_status(motion=self.motion, over=over, under=under or counts < 0, net=net))
                else:
                    self._reply(toledo_8217_weight(counts, self.decimals))
            elif c in "ZTC":
                {"Z": self.zero, "T": self.tare, "C": self.clear_tare}[c]()
                counts, net, over, under = self.displayed()
                self._reply(toledo_8217_status(motion=self.motion, over=over, under=under, net=net,
                                               center_zero=counts == 0))

    def _answer_sics(self, buf: bytearray) -> None:
        while True:
            end = next((i for i, b in enumerate(buf) if b in (CR, LF)), -1)
            if end < 0:
                return
            line = bytes(buf[:end]).decode("ascii", "replace").strip()
            del buf[: end + 1]
            if not line:
                continue
            self.requests.append(line.encode())
            counts, net, over, under = self.displayed()
            cmd = line.split()[0]
            if cmd in ("S", "SI"):
                if over or under:
                    self._reply(sics_line("S", "+" if over else "-"))
                elif cmd == "S" and self.motion:
                    self._reply(sics_line("S", "I"))
                else:
                    self._reply(sics_weight(counts, self.decimals, self.unit, stable=not self.motion))
            elif cmd in ("Z", "ZI"):
                if cmd == "ZI":  # zero immediately: it does not wait for the platform to settle
                    self._settle_until = 0.0
                ok = self.zero()
                self._reply(sics_line(cmd, "A" if cmd == "Z" else "S") if ok else sics_line(cmd, "I"))
            elif cmd in ("T", "TI"):
                if self.tare():
                    self._reply(sics_weight(self.counts(self.tare_g), self.decimals, self.unit, cmd=cmd))
                else:
                    self._reply(sics_line(cmd, "I"))
            elif cmd == "TA":
                self._reply(sics_weight(self.counts(self.tare_g), self.decimals, self.unit, cmd="TA", status="A"))
            elif cmd == "TAC":
                self.clear_tare()
                self._reply(sics_line("TAC", "A"))
            elif cmd == "@":
                self.clear_tare()
                self._reply(sics_line("I4", "A", '"0123456789"'))
            else:
                self._reply(sics_line("ES"))

    def _answer_xk(self, buf: bytearray) -> None:
        while True:
            start = buf.find(STX)
            if start < 0:
                buf.clear()
                return
            del buf[:start]
            if len(buf) < 6:
                return
            req = bytes(buf[:6])
            if req[5] != ETX or xor_hex(req[1:3]) != req[3:5]:
                del buf[:1]
                continue
            del buf[:6]
            self.requests.append(req)
            addr, cmd = chr(req[1]), chr(req[2])
            if addr != self.address:
                continue  # another indicator on the RS-485 bus
            counts, net, over, under = self.displayed()
            gross = self.counts(self.gross_g())
            if cmd == "A":
                self._reply(xk3190_reply(addr, "A"))
            elif cmd == "B":
                self._reply(xk3190_reply(addr, "B", gross, self.decimals))
            elif cmd == "C":
                self._reply(xk3190_reply(addr, "C", self.counts(self.tare_g), self.decimals))
            elif cmd == "D":
                self._reply(xk3190_reply(addr, "D", counts, self.decimals))
            else:
                self._reply(bytes([STX]) + addr.encode() + bytes([EOT]) + xor_hex(addr.encode() + bytes([EOT]))
                            + bytes([ETX]))

    # -- modbus slave -------------------------------------------------------------------------
    def modbus_registers(self) -> dict[int, int]:
        """Protocol address -> value for the map's fields, from the platform's state."""
        m = self.map
        counts, net, over, under = self.displayed()
        value = Decimal(counts).scaleb(-self.decimals)
        regs = dict(self.registers)

        def put(key: str, v: Decimal) -> None:
            f = m.fields[key]
            typ = f["type"]
            if typ == "float32":
                raw = struct.pack(">f", float(v))
            else:
                scaled = int((v * 10 ** int(f.get("decimals", 0))).to_integral_value(ROUND_HALF_UP))
                raw = struct.pack({"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I"}[typ], scaled)
            words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
            if f.get("word_order", "big") == "little":
                words.reverse()
            for i, w in enumerate(words):
                regs[f["addr"] + i] = w

        put("weight", value)
        if "gross" in m.fields:
            put("gross", Decimal(self.counts(self.gross_g())).scaleb(-self.decimals))
        if "tare" in m.fields:
            put("tare", Decimal(self.counts(self.tare_g)).scaleb(-self.decimals))
        if m.status_addr is not None:
            bits = {"stable": not self.motion, "motion": self.motion, "net": net, "overload": over,
                    "underload": under, "out_of_range": over or under, "error": False, "valid": True}
            status = 0
            for name, bit in m.bits.items():
                status |= bits[name] << bit
            regs[m.status_addr] = status | regs.get(m.status_addr, 0) & ~sum(1 << b for b in m.bits.values())
        return regs

    def _modbus_command(self, kind: str, address: int, value: int) -> None:
        """Act on a write the way the map says the indicator does."""
        for name, spec in self.map.commands.items():
            hit = (spec["kind"] == "coil" and kind == "coil" and spec["address"] == address and value) or (
                spec["kind"] == "register" and kind == "register" and spec["register"] - self.map.base == address
                and int(spec["value"]) == value) or (
                spec["kind"] == "pulse_bit" and kind == "register"
                and spec["register"] - self.map.base == address
                and value >> int(spec["bit"]) & 1 and not self._prev_reg(address) >> int(spec["bit"]) & 1)
            if hit:
                {"zero": self.zero, "tare": self.tare, "clear_tare": self.clear_tare}.get(name, lambda: None)()

    def _prev_reg(self, address: int) -> int:
        return self.registers.get(address, 0)

    def _answer_modbus(self, buf: bytearray) -> None:
        slave = self.map.slave
        while len(buf) >= 8:
            fc = buf[1]
            n = 9 + buf[6] if fc == 16 and len(buf) >= 7 else 8
            if len(buf) < n:
                return
            req = bytes(buf[:n])
            if crc16(req[:-2]) != req[-2:]:
                del buf[:1]
                continue
            del buf[:n]
            self.requests.append(req)
            if req[0] != slave:
                continue
            addr, qty = struct.unpack(">HH", req[2:6])
            if fc in (3, 4):
                regs = self.modbus_registers()
                if qty < 1 or qty > 125:
                    self._modbus_reply(bytes([slave, fc | 0x80, 3]))
                    continue
                data = b"".join(regs.get(addr + i, 0).to_bytes(2, "big") for i in range(qty))
                self._modbus_reply(bytes([slave, fc, 2 * qty]) + data)
            elif fc == 5:
                self._modbus_command("coil", addr, 1 if qty == 0xFF00 else 0)
                self.coils[addr] = qty
                self._modbus_reply(req[:6])
            elif fc == 6:
                self._modbus_command("register", addr, qty)
                self.registers[addr] = qty
                self._modbus_reply(req[:6])
            elif fc == 16:
                for i in range(qty):
                    v = int.from_bytes(req[7 + 2 * i: 9 + 2 * i], "big")
                    self._modbus_command("register", addr + i, v)
                    self.registers[addr + i] = v
                self._modbus_reply(req[:6])
            else:
                self._modbus_reply(bytes([slave, fc | 0x80, 1]))

    def _modbus_reply(self, body: bytes) -> None:
        self._reply(body + crc16(body))


def open_sim(protocol: str, **kw) -> SimScale:
    return SimScale(protocol, **kw)
