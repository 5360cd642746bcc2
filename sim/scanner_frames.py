"""What simulated guns send: the exact bytes of a read in every scanner protocol (pure functions).

``frames_for(protocol, text, symbology=…, **options)`` is the one entry point the pty simulator,
the tests and the benchmarks use; each protocol also has its own encoder below.
"""
from __future__ import annotations

from drivers.scanner.aim import aim_for
from drivers.scanner.hid_keyboard import ENTER, KP_ENTER, TAB
from drivers.scanner.hid_pos import DATA_MAX, HONEYWELL_CODE_IDS, REPORT_SIZE
from drivers.scanner.keyboard_layouts import CTRL, KEYPAD, LAYOUTS
from drivers.scanner.ssi import (OPCODES, SOURCE_DECODER, STATUS_CONTINUATION, STATUS_RETRANSMIT,
                                 SYMBOLOGY_TYPES, build_packet)

SHIFT, ALT, ALTGR, CTRL_MOD = 0x02, 0x04, 0x40, 0x01


def encode_serial(text: str, *, prefix: bytes = b"", suffix: bytes = b"\r\n", aim: bool = False,
                  symbology: str | None = None, encoding: str = "utf-8") -> bytes:
    """``prefix [AIM] text suffix`` as a serial gun sends it."""
    body = (aim_for(symbology) if aim else "") + text
    return bytes(prefix) + body.encode(encoding) + bytes(suffix)


def encode_ssi(text: str, symbology: str | None = "code128", *, encoding: str = "utf-8",
               retransmit: bool = False) -> bytes:
    """The DECODE_DATA packet(s) a Zebra SSI scanner sends (split when over 250 bytes)."""
    raw = text.encode(encoding)
    btype = SYMBOLOGY_TYPES.get(symbology, 0x00)
    chunks = [raw[i:i + 250] for i in range(0, len(raw), 250)] or [b""]
    out = b""
    for k, chunk in enumerate(chunks):
        status = (STATUS_CONTINUATION if k < len(chunks) - 1 else 0) | \
            (STATUS_RETRANSMIT if retransmit else 0)
        out += build_packet(OPCODES["DECODE_DATA"], bytes([btype]) + chunk, SOURCE_DECODER, status)
    return out


def encode_hid_pos(text: str, symbology: str | None = "code128", *, report_id: int = 2,
                   encoding: str = "utf-8") -> bytes:
    """The 64-byte HID POS input report(s) for one read (56 data bytes per report)."""
    raw = text.encode(encoding)
    aim = aim_for(symbology).encode()
    code_id = next((k for k, v in HONEYWELL_CODE_IDS.items() if v == symbology), 0)
    chunks = [raw[i:i + DATA_MAX] for i in range(0, len(raw), DATA_MAX)] or [b""]
    out = b""
    for k, chunk in enumerate(chunks):
        report = bytearray(REPORT_SIZE)
        report[0], report[1] = report_id, len(chunk)
        report[2:5] = aim
        report[5:5 + len(chunk)] = chunk
        report[61] = code_id
        report[63] = 1 if k < len(chunks) - 1 else 0
        out += bytes(report)
    return out


def _reverse_layout(layout: str) -> dict[str, tuple[int, int]]:
    table: dict[str, tuple[int, int]] = {}
    for usage, levels in sorted(LAYOUTS[layout].items()):
        for level, mod in zip(levels, (0, SHIFT, ALTGR)):
            if level and not level.startswith("dead:"):
                table.setdefault(level, (usage, mod))
    for usage, ch in CTRL.items():
        table.setdefault(ch, (usage, CTRL_MOD))
    return table


_REVERSE: dict[str, dict[str, tuple[int, int]]] = {}
_KEYPAD_DIGITS = {v: k for k, v in KEYPAD.items() if v.isdigit()}


def _report(mods: int, *keys: int) -> bytes:
    return bytes([mods, 0, *keys, *([0] * (6 - len(keys)))])


def encode_keyboard(text: str, *, layout: str = "us", terminator: str = "enter",
                    report_id: int | None = None) -> bytes:
    """Boot keyboard reports that type ``text`` then the terminator (press + release per key).

    Characters the layout lacks are typed in Alt mode: Alt held, the code on the keypad
    (``0nnn`` Windows-1252 when it has the character, else the Unicode code point).
    """
    table = _REVERSE.setdefault(layout, _reverse_layout(layout))
    reports = []
    for ch in text:
        if ch in table:
            usage, mods = table[ch]
            reports += [_report(mods, usage), _report(0)]
            continue
        try:
            code = "0" + str(ch.encode("cp1252")[0])
        except UnicodeEncodeError:
            code = str(ord(ch))
            if ord(ch) < 256:
                raise ValueError(f"{ch!r} cannot be typed with layout {layout}") from None
        for d in code:
            reports += [_report(ALT, _KEYPAD_DIGITS[d]), _report(ALT)]
        reports.append(_report(0))
    key = {"enter": ENTER, "kp-enter": KP_ENTER, "tab": TAB}[terminator]
    reports += [_report(0, key), _report(0)]
    prefix = b"" if report_id is None else bytes([report_id])
    return b"".join(prefix + r for r in reports)


def frames_for(protocol: str, text: str, symbology: str | None = "code128", **options) -> bytes:
    """The bytes a simulated gun of ``protocol`` sends for one read (batch: not here, see
    ``sim.batch_gun``; honeywell reads are serial reads)."""
    if protocol in ("serial", "honeywell", "batch"):
        return encode_serial(text, symbology=symbology, **options)
    if protocol == "ssi":
        return encode_ssi(text, symbology, **options)
    if protocol == "hid-pos":
        return encode_hid_pos(text, symbology, **options)
    if protocol == "hid-keyboard":
        return encode_keyboard(text, **options)
    raise ValueError(f"no simulator frames for protocol {protocol!r}")
