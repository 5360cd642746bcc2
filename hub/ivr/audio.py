"""Audio files: reading a WAV header, and the external programs that make and join prompts.

Prompts are 8 kHz mono A-law WAV (what an E1 channel and a G.711a RTP stream carry, so the
telephony service plays them without converting).  ``espeak-ng`` speaks text (22,050 Hz PCM) and
``sox`` converts and joins; both run as programs, never linked.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass

from hub.ivr.errors import IvrError

ENCODINGS = {1: "pcm", 3: "float", 6: "a-law", 7: "u-law"}


@dataclass(frozen=True)
class WavInfo:
    encoding: str            # pcm | float | a-law | u-law | format-N
    rate: int                # samples per second
    channels: int
    bits: int
    data_bytes: int

    @property
    def duration_ms(self) -> int:
        per_second = self.rate * self.channels * max(self.bits // 8, 1)
        return self.data_bytes * 1000 // per_second if per_second else 0

    @property
    def is_prompt(self) -> bool:
        """8 kHz mono A-law, what the IVR plays."""
        return (self.encoding, self.rate, self.channels, self.bits) == ("a-law", 8000, 1, 8)


def wav_info(data: bytes, name: str = "the file") -> WavInfo:
    """The format of a RIFF/WAVE file's bytes; ``IvrError`` for anything else (never another error)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise IvrError(f"{name} is not a WAV file (no RIFF/WAVE header)")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise IvrError(f"{name}: the WAV format chunk is cut short")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            fmt = (ENCODINGS.get(tag, f"format-{tag}"), rate, channels, bits)
        elif cid == b"data":
            if fmt is None:
                raise IvrError(f"{name}: WAV data before its format chunk")
            if fmt[1] <= 0 or fmt[2] <= 0:
                raise IvrError(f"{name}: WAV with {fmt[1]} Hz and {fmt[2]} channel(s)")
            return WavInfo(*fmt, data_bytes=len(body))
        pos += 8 + size + (size & 1)
    raise IvrError(f"{name}: a WAV file without " + ("a format chunk" if fmt is None else "audio data"))


def read_wav_info(path: str) -> WavInfo:
    try:
        with open(path, "rb") as f:
            return wav_info(f.read(), path)
    except OSError as e:
        raise IvrError(f"{path}: {e.strerror}") from e


def _program(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        raise IvrError(f"{name} is not installed (Debian package {package}): it is needed to make prompts")
    return found


def _run(args: list[str], what: str) -> None:
    try:
        res = subprocess.run(args, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        raise IvrError(f"{what}: {args[0]} took more than 120 s") from e
    if res.returncode != 0:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        raise IvrError(f"{what}: {args[0]} failed: {err[-1] if err else 'exit status %d' % res.returncode}")


def speak(text: str, voice: str, out_path: str) -> None:
    """``text`` spoken by espeak-ng's ``voice`` into ``out_path`` as an 8 kHz A-law WAV."""
    espeak, sox = _program("espeak-ng", "espeak-ng"), _program("sox", "sox")
    raw = out_path + ".tts.wav"
    try:
        _run([espeak, "-v", voice, "-w", raw, "--", text], f"speaking {text!r}")
        to_prompt(raw, out_path, sox)
    finally:
        import os
        if os.path.exists(raw):
            os.unlink(raw)


def to_prompt(src: str, dst: str, sox: str | None = None) -> None:
    """Any audio file sox reads -> 8 kHz mono A-law WAV."""
    sox = sox or _program("sox", "sox")
    _run([sox, "-V1", src, "-r", "8000", "-c", "1", "-e", "a-law", "-b", "8", dst], f"converting {src}")


def join(paths: list[str], dst: str) -> None:
    """The prompt files one after the other in one 8 kHz A-law WAV."""
    if not paths:
        raise IvrError("nothing to join: no prompts were played")
    sox = _program("sox", "sox")
    _run([sox, "-V1", *paths, "-r", "8000", "-c", "1", "-e", "a-law", "-b", "8", dst], f"writing {dst}")


def prompt_samples(path: str) -> bytes:
    """The A-law bytes of a prompt file (8 kHz mono A-law WAV), what a G.711a channel carries as is;
    ``IvrError`` naming the file for any other format."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise IvrError(f"{path}: {e.strerror}") from e
    if not wav_info(data, path).is_prompt:
        raise IvrError(f"{path}: not an 8 kHz mono A-law WAV (run `scanhub ivr prompts` to make it)")
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"data":
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise IvrError(f"{path}: a WAV file without audio data")
