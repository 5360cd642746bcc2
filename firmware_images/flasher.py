"""Host side of the flashing protocol: handshake, chunked transfer with ACK/NAK/retry, resume,
commit and read-back (messages in ``link_protocol``).

``GunLink(port)`` drives an open pyserial port (any ``serial.serial_for_url`` URL: a cradle's
``/dev/ttyACM0``, ``socket://…`` on a serial device server, or a simulator's pty).  A transfer
that breaks off (cable pulled, gun switched off) raises ``LinkError``; calling ``flash`` again
with the same image resumes from the gun's last good chunk.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import serial

from firmware_images import container
from firmware_images import link_protocol as lp
from firmware_images.errors import GunRefused, LinkError, LinkLost
from firmware_images.framing import MAX_PAYLOAD, Frame, FrameDecoder, encode_frame

DEFAULT_BAUD = 115_200
DEFAULT_CHUNK = 4096


@dataclass
class GunInfo:
    """What a gun said about itself in the handshake."""
    gun_id: str
    model: str
    firmware: str
    free_bytes: int
    max_chunk: int
    active_slot: str | None = None
    image_version: str | None = None
    image_site: str | None = None
    image_digest: bytes | None = None
    image_len: int | None = None
    data_version: str | None = None
    key_id: bytes | None = None
    pending_session: bytes | None = None
    pending_next: int | None = None
    pending_total: int | None = None
    boot_note: str | None = None

    @classmethod
    def from_tlv(cls, fields: dict) -> "GunInfo":
        missing = [k for k in ("gun_id", "model", "firmware", "free_bytes", "max_chunk") if k not in fields]
        if missing:
            raise LinkError(f"gun's handshake lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> dict:
        return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self.__dict__.items()}


@dataclass
class FlashResult:
    gun: GunInfo                 # the gun as it describes itself after the switch
    chunks_sent: int
    chunks_total: int
    resumed_from: int
    reused_sections: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    retries: int = 0
    seconds: float = 0.0


def open_port(url: str, baud: int = DEFAULT_BAUD) -> serial.SerialBase:
    """Open ``url`` (a device path, any pyserial URL, or ``usb://VID:PID`` for raw USB bulk)."""
    if url.startswith("usb://"):
        from firmware_images.usb_link import open_usb

        return open_usb(url)
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.02, write_timeout=10)
    except (serial.SerialException, OSError, ValueError) as e:
        raise LinkError(f"cannot open {url}: {e}") from None


class GunLink:
    def __init__(self, port, timeout: float = 2.0, retries: int = 6, commit_timeout: float = 15.0):
        self.port = port
        self.timeout = timeout
        self.commit_timeout = commit_timeout   # the gun checks the whole image before it answers
        self.retries = retries
        self.decoder = FrameDecoder()
        self._pending: list[Frame] = []
        try:
            port.reset_input_buffer()   # stale replies from an earlier, broken session
        except (AttributeError, serial.SerialException, OSError):
            pass

    # ------------------------------------------------------------ frames

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as e:
            raise LinkLost("writing", str(e)) from None

    def _next_frame(self, deadline: float) -> Frame | None:
        while True:
            if self._pending:
                return self._pending.pop(0)
            if time.monotonic() >= deadline:
                return None
            try:
                data = self.port.read(max(1, self.port.in_waiting or 1))
            except (serial.SerialException, OSError) as e:
                raise LinkLost("reading", str(e)) from None
            if data:
                self._pending.extend(self.decoder.feed(data))

    def request(self, type_: int, payload: bytes, expect: tuple[int, ...], timeout: float | None = None,
                attempts: int | None = None) -> Frame:
        """Send a request and wait for one of ``expect`` (resending on silence)."""
        attempts = attempts or self.retries
        for _ in range(attempts):
            self._write(encode_frame(type_, payload))
            deadline = time.monotonic() + (timeout or self.timeout)
            while (frame := self._next_frame(deadline)) is not None:
                if frame.type == lp.ERROR:
                    raise GunRefused(*lp.decode_error(frame.payload))
                if frame.type in expect:
                    return frame
        raise LinkError(f"no answer to {lp.NAMES.get(type_, type_)} after {attempts} tries")

    # ------------------------------------------------------------ requests

    def hello(self) -> GunInfo:
        frame = self.request(lp.HELLO, bytes((lp.PROTOCOL_VERSION,)), (lp.HELLO_REPLY,), timeout=1.0)
        try:
            return GunInfo.from_tlv(lp.decode_tlv(frame.payload))
        except lp.ProtocolError as e:
            raise LinkError(f"bad handshake from the gun: {e}") from None

    def flash(self, image: bytes, progress: Callable[[int, int], None] | None = None,
              chunk_size: int = DEFAULT_CHUNK) -> FlashResult:
        """Transfer ``image`` and switch the gun to it; resumes a pending transfer of the same image.

        ``progress(done_chunks, total_chunks)`` is called as chunks are acknowledged."""
        started = time.monotonic()
        info = container.parse_image(image)   # never send what we can see is broken
        manifest = image[:info.manifest_len]
        gun = self.hello()
        if info.image_len > gun.free_bytes:
            raise GunRefused("no-space", f"image of {info.image_len} bytes, gun has {gun.free_bytes}")
        chunk_size = max(1, min(chunk_size, gun.max_chunk, MAX_PAYLOAD - 4))
        frame = self.request(lp.BEGIN, chunk_size.to_bytes(2, "big") + manifest, (lp.BEGIN_ACK,))
        try:
            ack = lp.BeginAck.decode(frame.payload)
        except lp.ProtocolError as e:
            raise LinkError(str(e)) from None
        if ack.session != lp.session_id(manifest):
            raise LinkError("gun acknowledged a different transfer session")
        plan = lp.transfer_plan(info, ack.reuse_mask, ack.chunk_size)
        if len(plan) != ack.total:
            raise LinkError(f"gun plans {ack.total} chunks, host {len(plan)}")
        result = FlashResult(gun, 0, len(plan), ack.next_chunk,
                             [s.name for i, s in enumerate(info.sections) if ack.reuse_mask >> i & 1])
        index = ack.next_chunk
        if progress:
            progress(index, len(plan))
        tries = 0
        while index < len(plan):
            offset, length = plan[index]
            self._write(encode_frame(lp.DATA, lp.encode_u32(index) + image[offset:offset + length]))
            result.bytes_sent += length
            reply = self._await_chunk_reply(index, time.monotonic() + self.timeout + self._line_time(length))
            if reply is not None and reply[0] == "ack":
                index += 1
                result.chunks_sent += 1
                tries = 0
                if progress:
                    progress(index, len(plan))
                continue
            tries += 1
            result.retries += 1
            if tries > self.retries:
                raise LinkError(f"chunk {index} of {len(plan)} not acknowledged after {self.retries} "
                                "retries; run the flash again to resume")
            if reply is not None:        # NAK: go where the gun wants us
                index = min(max(reply[1], 0), len(plan))
        result.gun = self._commit(info)
        if result.gun.image_digest != info.digest:
            raise LinkError("gun reports a different active image after the switch")
        result.seconds = time.monotonic() - started
        return result

    def _commit(self, info: container.ImageInfo) -> GunInfo:
        try:
            frame = self.request(lp.COMMIT, b"", (lp.COMMIT_OK,), timeout=self.commit_timeout, attempts=1)
            return GunInfo.from_tlv(lp.decode_tlv(frame.payload))
        except LinkError as e:
            if isinstance(e, GunRefused) and e.code != "no-session":
                raise
            # the COMMIT or its answer was lost: ask the gun what it runs now
            gun = self.hello()
            if gun.image_digest == info.digest:
                return gun
            if isinstance(e, GunRefused):
                raise
            frame = self.request(lp.COMMIT, b"", (lp.COMMIT_OK,), timeout=self.commit_timeout, attempts=1)
            return GunInfo.from_tlv(lp.decode_tlv(frame.payload))

    def _line_time(self, n: int) -> float:
        """Seconds ``n`` bytes take on the wire at the port's baud rate (8N1), twice over for slack."""
        baud = getattr(self.port, "baudrate", None) or 9600
        return 2 * n * 10 / baud

    def _await_chunk_reply(self, index: int, deadline: float):
        while (frame := self._next_frame(deadline)) is not None:
            if frame.type == lp.ACK and lp.decode_u32(frame.payload, "ACK") == index:
                return ("ack", index)
            if frame.type == lp.NAK:
                return ("nak", lp.decode_u32(frame.payload, "NAK"))
            if frame.type == lp.ERROR:
                raise GunRefused(*lp.decode_error(frame.payload))
        return None

    def read_back(self, progress: Callable[[int, int], None] | None = None) -> bytes:
        """The gun's active image, read in pieces and checked against the gun's own digest."""
        gun = self.hello()
        if not gun.image_len:
            raise GunRefused("no-image", "the gun holds no image")
        out = bytearray()
        step = max(1, min(gun.max_chunk, MAX_PAYLOAD - 4))
        while len(out) < gun.image_len:
            want = min(step, gun.image_len - len(out))
            frame = self.request(lp.READ, lp.encode_u32(len(out)) + want.to_bytes(2, "big"), (lp.READ_DATA,))
            if lp.decode_u32(frame.payload, "READ_DATA") != len(out) or len(frame.payload) == 4:
                raise LinkError(f"gun answered READ at {len(out)} with the wrong piece")
            out += frame.payload[4:]
            if progress:
                progress(len(out), gun.image_len)
        image = bytes(out[:gun.image_len])
        if container.parse_image(image).digest != gun.image_digest:
            raise LinkError("read-back image differs from the gun's own digest")
        return image

    def abort(self) -> None:
        self.request(lp.ABORT, b"", (lp.ABORT_OK,))
