"""A simulated wireless gun in its cradle: the gun side of the flashing protocol on a pty.

``SimulatedGun(directory, …).start()`` opens a pseudo-terminal and answers the protocol of
``firmware_images.link_protocol`` on it; ``.port`` is the path a host opens with pyserial.  With
``baud`` set, the gun reads and writes no faster than a UART at that rate (8N1: 10 bits a byte),
so transfer times are those of a real cradle.

``power_loss()`` stops the gun dead (no reply, no clean-up) and ``crash_points`` (see
``sim.gun_storage``) cut the power from inside a request; a new ``SimulatedGun`` on the same
directory is the gun booting again.  ``cut_after_chunks`` makes the gun go silent after that many
data chunks, like a cable pulled out of the cradle.
"""
from __future__ import annotations

import os
import select
import threading
import time
import tty

from firmware_images import container
from firmware_images import link_protocol as lp
from firmware_images.framing import Frame, FrameDecoder, encode_frame
from sim.gun_storage import GunStorage, PowerLoss, StorageRefused


class LinePacer:
    """Holds bytes back to the pace of a UART: ``bytes_per_s`` = baud / 10 for 8N1."""

    def __init__(self, baud: int | None):
        self.rate = baud / 10.0 if baud else None
        self.free_at = 0.0

    def pace(self, n: int) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        self.free_at = max(self.free_at, now) + n / self.rate
        delay = self.free_at - now
        if delay > 0:
            time.sleep(delay)


class SimulatedGun:
    def __init__(self, directory, gun_id: str | None = None, model: str = "SG-200",
                 public_key_hex: str | None = None, baud: int | None = None, max_chunk: int = 4096,
                 capacity: int = 64 << 20, crash_points: set[str] | None = None):
        self.storage = GunStorage(directory, gun_id=gun_id, model=model, public_key_hex=public_key_hex,
                                  capacity=capacity, max_chunk=max_chunk, crash_points=crash_points)
        self.baud = baud
        self.cut_after_chunks: int | None = None
        self.chunks_received = 0
        self.naks_sent = 0
        self.dead = threading.Event()       # set when the gun stopped (power loss or stop())
        self.crashed_at: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.port: str | None = None
        self._master = self._slave = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> "SimulatedGun":
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._in = LinePacer(self.baud)
        self._out = LinePacer(self.baud)
        self._thread = threading.Thread(target=self._run, name=f"gun-{self.storage.identity['gun_id']}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        self.dead.set()

    power_loss = stop

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ serving

    def _run(self) -> None:
        decoder = FrameDecoder()
        try:
            while not self._stop.is_set():
                r, _, _ = select.select([self._master], [], [], 0.05)
                if not r:
                    continue
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    time.sleep(0.01)
                    continue
                self._in.pace(len(data))
                if self.cut_after_chunks is not None and self.chunks_received >= self.cut_after_chunks:
                    continue  # cable pulled: bytes fall on the floor
                bad_before = decoder.bad_frames
                frames = decoder.feed(data)
                if decoder.bad_frames > bad_before and self.storage.session is not None:
                    self._nak(lp.NAK_BAD_FRAME)
                for frame in frames:
                    self._handle(frame)
        except PowerLoss as e:
            self.crashed_at = str(e)
        finally:
            self.dead.set()

    def _send(self, type_: int, payload: bytes = b"") -> None:
        frame = encode_frame(type_, payload)
        self._out.pace(len(frame))
        try:
            os.write(self._master, frame)
        except OSError:
            pass

    def _nak(self, reason: int) -> None:
        self.naks_sent += 1
        s = self.storage.session
        self._send(lp.NAK, lp.encode_u32(s.next_chunk if s else 0) + bytes((reason,)))

    def _handle(self, frame: Frame) -> None:
        st = self.storage
        try:
            if frame.type == lp.HELLO:
                self._send(lp.HELLO_REPLY, lp.encode_tlv(st.describe()))
            elif frame.type == lp.BEGIN:
                if len(frame.payload) < 2:
                    raise StorageRefused("malformed", "BEGIN needs chunk size and manifest")
                chunk = int.from_bytes(frame.payload[:2], "big")
                self._send(lp.BEGIN_ACK, st.begin(frame.payload[2:], chunk).encode())
            elif frame.type == lp.DATA:
                self._data(frame.payload)
            elif frame.type == lp.COMMIT:
                info = st.commit()
                self._send(lp.COMMIT_OK, lp.encode_tlv(st.describe()) if info else b"")
            elif frame.type == lp.READ:
                self._read(frame.payload)
            elif frame.type == lp.ABORT:
                st.abort()
                self._send(lp.ABORT_OK)
            else:
                raise StorageRefused("unknown-request", f"unknown request type 0x{frame.type:02x}")
        except StorageRefused as e:
            self._send(lp.ERROR, lp.encode_error(e.code, str(e)))
        except lp.ProtocolError as e:
            self._send(lp.ERROR, lp.encode_error("malformed", str(e)))

    def _data(self, payload: bytes) -> None:
        s = self.storage.session
        if s is None:
            raise StorageRefused("no-session", "DATA without a BEGIN")
        index = lp.decode_u32(payload, "DATA")
        if index < s.next_chunk:      # our ACK was lost: the host repeats a chunk we have
            self._send(lp.ACK, lp.encode_u32(index))
            return
        if index > s.next_chunk or index >= len(s.plan):
            self._nak(lp.NAK_ORDER)
            return
        if len(payload) - 4 != s.plan[index][1]:
            self._nak(lp.NAK_LENGTH)
            return
        self.storage.write_chunk(index, payload[4:])
        self.chunks_received += 1
        self._send(lp.ACK, lp.encode_u32(index))

    def _read(self, payload: bytes) -> None:
        if len(payload) != 6:
            raise StorageRefused("malformed", "READ needs offset u32 and length u16")
        offset = int.from_bytes(payload[:4], "big")
        length = min(int.from_bytes(payload[4:], "big"), self.storage.max_chunk)
        image = self.storage.active_image()
        if image is None:
            raise StorageRefused("no-image", "the gun holds no image")
        self._send(lp.READ_DATA, lp.encode_u32(offset) + image[offset:offset + length])

    # ------------------------------------------------------------ for tests and the app

    def active_config(self) -> dict | None:
        image = self.storage.active_image()
        if image is None:
            return None
        return container.read_image(image, self.storage.public_key).config
