"""Simulated barcode guns on pseudo-terminals (and FIFOs standing in for hidraw nodes).

A :class:`SimScanner` opens a pty, answers the host like the real device (Honeywell menu commands,
SSI command ACKs, batch upload receipts are recorded) and sends reads as the exact wire bytes::

    gun = SimScanner("ssi")                 # gun.path -> "/dev/pts/7" (or the link you asked for)
    gun.send_read("YT1234567890123", "code128")
    gun.unplug(); gun.replug()              # the pty goes away and comes back (at the same link)
    gun.close()

For ``hid-keyboard`` and ``hid-pos`` pass ``transport="fifo"``: the path is then a FIFO the
driver opens as ``hidraw://PATH``, delivering report bytes like a hidraw node.
"""
from __future__ import annotations

import os
import re
import select
import tempfile
import threading
import tty

from drivers.scanner.honeywell import ACK, ENQ, NAK
from drivers.scanner.ssi import OPCODES, SOURCE_DECODER, SOURCE_HOST, build_packet, parse_packet
from sim.batch_gun import encode_batch
from sim.scanner_frames import frames_for

#: Honeywell settings the simulator knows: name -> (current, default, allowed values)
HONEYWELL_SETTINGS = {
    "232BAD": ("9", "9", [str(v) for v in range(0, 10)]),      # 9 = 115200 baud
    "232WRD": ("2", "2", [str(v) for v in range(0, 9)]),       # word length/parity
    "CBRENA": ("1", "1", ["0", "1"]),
    "C39ENA": ("1", "1", ["0", "1"]),
    "128ENA": ("1", "1", ["0", "1"]),
    "DECMOD": ("0", "0", ["0", "1", "2", "3"]),
    "PREBK2": ("", "", None),                                  # prefix: any hex text
    "SUFBK2": ("0D", "0D", None),
}
_HW_CMD = re.compile(rb"\x16M\r([^.!]*)([.!])")


class SimScanner:
    """One simulated gun of ``protocol`` (``serial``, ``hid-keyboard``, ``hid-pos``, ``ssi``,
    ``honeywell``, ``batch``); ``link`` is a stable path (symlink) kept across unplug/replug."""

    def __init__(self, protocol: str, *, link: str | None = None, transport: str = "pty",
                 frame_options: dict | None = None):
        if transport not in ("pty", "fifo"):
            raise ValueError("transport must be pty or fifo")
        self.protocol, self.link, self.transport = protocol, link, transport
        self.frame_options = dict(frame_options or {})
        self.settings = {k: v[0] for k, v in HONEYWELL_SETTINGS.items()}
        self.received = bytearray()          # everything the host sent
        self.host_packets: list = []         # SSI packets from the host
        self.receipts: list[bytes] = []      # batch ACK/NAK lines from the host
        self._lock = threading.Lock()
        self._master = self._slave = None
        self._fifo_dir = None
        self._thread = None
        self._stop = threading.Event()
        self.path = ""
        self.replug()

    # -- plugging -----------------------------------------------------------------------------
    def replug(self) -> None:
        """Create the device (again) and point ``link`` at it."""
        with self._lock:
            if self._master is not None:
                return
            if self.transport == "pty":
                self._master, self._slave = os.openpty()
                tty.setraw(self._slave)
                target = os.ttyname(self._slave)
            else:
                if self._fifo_dir is None:
                    self._fifo_dir = tempfile.mkdtemp(prefix="simhid-")
                target = os.path.join(self._fifo_dir, "hidraw")
                if not os.path.exists(target):
                    os.mkfifo(target)
                self._master = os.open(target, os.O_RDWR)
            if self.link:
                tmp = self.link + ".new"
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.symlink(target, tmp)
                os.replace(tmp, self.link)
                self.path = self.link
            else:
                self.path = target
            self._stop.clear()
            if self.transport == "pty":
                self._thread = threading.Thread(target=self._serve, args=(self._master,), daemon=True,
                                                name=f"sim-{self.protocol}")
                self._thread.start()

    def unplug(self) -> None:
        """The device disappears: the host's next read fails (EIO on a pty, EOF on a FIFO)."""
        with self._lock:
            master, slave, self._master, self._slave = self._master, self._slave, None, None
            self._stop.set()
        for fd in (master, slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None

    def close(self) -> None:
        self.unplug()
        if self.link and os.path.lexists(self.link):
            os.unlink(self.link)
        if self._fifo_dir:
            for name in os.listdir(self._fifo_dir):
                os.unlink(os.path.join(self._fifo_dir, name))
            os.rmdir(self._fifo_dir)
            self._fifo_dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    # -- sending ------------------------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        with self._lock:
            if self._master is None:
                raise OSError("simulated gun is unplugged")
            view = memoryview(data)
            while view:
                n = os.write(self._master, view)
                view = view[n:]

    def send_read(self, text: str, symbology: str | None = "code128") -> bytes:
        """Send one read as this protocol's bytes; returns them."""
        data = frames_for(self.protocol, text, symbology, **self.frame_options)
        self.send_bytes(data)
        return data

    def send_upload(self, gun_id: str, records: list[dict], image_version: str = "") -> bytes:
        """Send one SHB1 batch upload (``batch`` cradles)."""
        data = encode_batch(gun_id, records, image_version)
        self.send_bytes(data)
        return data

    # -- answering the host -------------------------------------------------------------------
    def _serve(self, fd: int) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(fd, 4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            self.received += data
            buf += data
            try:
                self._answer(buf)
            except OSError:
                return

    def _answer(self, buf: bytearray) -> None:
        if self.protocol == "honeywell":
            while (m := _HW_CMD.search(buf)) is not None:
                body, storage = m.group(1).decode("ascii", "replace"), m.group(2).decode()
                del buf[:m.end()]
                self.send_bytes(self.honeywell_reply(body, storage))
        elif self.protocol == "ssi":
            while len(buf) >= 6 and len(buf) >= buf[0] + 2:
                frame = bytes(buf[:buf[0] + 2])
                try:
                    p = parse_packet(frame)
                except ValueError:
                    del buf[:1]
                    continue
                del buf[:len(frame)]
                self.host_packets.append(p)
                if p.source == SOURCE_HOST and p.name not in ("CMD_ACK", "CMD_NAK"):
                    self.send_bytes(build_packet(OPCODES["CMD_ACK"], source=SOURCE_DECODER))
        elif self.protocol == "batch":
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                if line.strip():
                    self.receipts.append(line.strip())
        else:
            buf.clear()

    def honeywell_reply(self, body: str, storage: str) -> bytes:
        """The echo of a menu command with ACK/ENQ/NAK before each punctuation mark."""
        out, tag = [], None
        for sep_item in re.split(r"([,;])", body):
            if sep_item in (",", ";"):
                out.append(sep_item)
                continue
            item = sep_item
            if tag is None or (out and out[-1] == ";"):
                tag, item = item[:3].upper(), item[3:]
            sub, data = item[:3].upper(), item[3:]
            name = tag + sub
            known = HONEYWELL_SETTINGS.get(name)
            if known is None:
                status, shown = ENQ, data
            elif data == "?":
                status, shown = ACK, self.settings[name]
            elif data == "^":
                status, shown = ACK, known[1]
            elif data == "*":
                status, shown = ACK, "|".join(known[2]) if known[2] else "*"
            elif known[2] is None or data in known[2]:
                status, shown = ACK, data
                self.settings[name] = data
            else:
                status, shown = NAK, data
            lead = f"{tag}{sub}" if (len(out) == 0 or out[-1] == ";") else sub
            out.append(f"{lead}{shown}".encode("ascii", "replace").decode() + chr(status))
        text = "".join(out) + storage
        return text.encode("latin-1")
