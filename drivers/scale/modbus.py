"""Modbus RTU weighing indicators, with the register map as data (``drivers/scale/maps/*.yaml``).

There is no standard map: indicators differ in address base (``40001`` vs 0), word order, float vs
scaled integer, where the stable/motion bits are and how zero/tare are commanded.  A map says all
of that; :class:`ModbusMap` validates it.  One poll reads a single block of holding (or input)
registers covering every field, so a reading is always self-consistent.

The live device talks through minimalmodbus on the :class:`drivers.port.PortOwner`'s open port
(``session`` mode); :class:`ModbusScaleDecoder` is the pure part: it builds the poll request and
decodes the response frame (or the register list minimalmodbus returns) into a Reading.

Map schema (YAML or JSON)::

    name: tuna-id551pn                 # what --map NAME finds
    indicator: Tuna ID551PN, scale 1   # free text
    source: "ID551PN manual 3.5, MODBUS-RTU2 data format"
    serial: {baudrate: 9600, bytesize: 8, parity: N, stopbits: 1}
    slave: 1
    function: 3                        # 3 holding registers, 4 input registers
    address_base: 40001                # the documented address of protocol address 0
    weight: {register: 40001, type: float32, word_order: big, unit: kg}   # what the scale shows
    gross:  {register: 40003, type: float32}                              # optional
    tare:   {register: …, type: …}                                         # optional
    status: {register: 40005, bits: {motion: 12, net: 11, underload: 9, overload: 10, valid: 15}}
    commands:
      zero: {kind: pulse_bit, register: 40006, bit: 11}    # 0 -> 1 edge on a bit
      tare: {kind: coil, address: 113}                     # write single coil (function 5)
      clear_tare: {kind: register, register: 40001, value: 3}   # write single register

Types: ``int16``, ``uint16``, ``int32``, ``uint32``, ``float32``; integer fields take ``decimals``
(the value is divided by 10**decimals).  Word order ``big`` sends the high word first.  Status bits
(0 = least significant): ``stable`` and ``valid`` mean "good" when 1; ``motion``, ``net``,
``overload``, ``underload``, ``error`` when 1; ``out_of_range`` is over or under by the sign.
"""
from __future__ import annotations

import json
import os
import queue
import struct
import threading
from decimal import Decimal
from pathlib import Path

from drivers.port import PortNotConnected
from drivers.scale.base import Decoder, MapError, Reading, Scale, ScaleError, Unsupported, UNIT_GRAMS, to_grams

MAPS_DIR = Path(__file__).with_name("maps")
TYPES = {"int16": (1, ">h"), "uint16": (1, ">H"), "int32": (2, ">i"), "uint32": (2, ">I"), "float32": (2, ">f")}
BIT_NAMES = {"stable", "motion", "net", "overload", "underload", "out_of_range", "error", "valid"}
COMMAND_KINDS = {"coil", "register", "pulse_bit"}


def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC-16 (poly 0xA001, init 0xFFFF), low byte first as sent on the wire."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes((crc & 0xFF, crc >> 8))


def available_maps() -> list[str]:
    return sorted(p.stem for p in MAPS_DIR.glob("*.yaml"))


def load_map(name_or_file: str | dict) -> "ModbusMap":
    """A map by shipped name (``tuna-id551pn``), by file path (YAML or JSON), or as a dict."""
    if isinstance(name_or_file, ModbusMap):
        return name_or_file
    if isinstance(name_or_file, dict):
        return ModbusMap(name_or_file)
    path = Path(name_or_file)
    if not path.exists():
        path = MAPS_DIR / f"{name_or_file}.yaml"
    if not path.exists():
        raise MapError(f"no register map {name_or_file!r} (shipped: {', '.join(available_maps())})")
    text = path.read_text()
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml
            data = yaml.safe_load(text)
    except Exception as e:
        raise MapError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
    if not isinstance(data, dict):
        raise MapError(f"{path}: a map is a mapping of fields")
    return ModbusMap(data, source=str(path))


class ModbusMap:
    """A validated register map (see the module docstring for the schema)."""

    def __init__(self, data: dict, source: str = "<dict>"):
        problems = []
        self.data = data
        self.name = str(data.get("name") or os.path.basename(source))
        self.slave = data.get("slave", 1)
        self.function = data.get("function", 3)
        self.base = data.get("address_base", 0)
        self.serial = dict(data.get("serial") or {"baudrate": 9600})
        self.fields = {}
        for key in ("weight", "gross", "tare"):
            spec = data.get(key)
            if spec is None:
                if key == "weight":
                    problems.append("weight: missing")
                continue
            if not isinstance(spec, dict) or "register" not in spec:
                problems.append(f"{key}: needs a register")
                continue
            typ = spec.get("type", "int32")
            if typ not in TYPES:
                problems.append(f"{key}: unknown type {typ!r}")
                continue
            if spec.get("word_order", "big") not in ("big", "little"):
                problems.append(f"{key}: word_order is big or little")
            self.fields[key] = dict(spec, type=typ, addr=spec["register"] - self.base)
        self.unit = (data.get("weight") or {}).get("unit", "kg")
        if self.unit not in UNIT_GRAMS:
            problems.append(f"weight: unknown unit {self.unit!r}")
        status = data.get("status")
        self.status_addr = None
        self.bits: dict[str, int] = {}
        if status is not None:
            if "register" not in status:
                problems.append("status: needs a register")
            else:
                self.status_addr = status["register"] - self.base
            for bit_name, bit in (status.get("bits") or {}).items():
                if bit_name not in BIT_NAMES or not isinstance(bit, int) or not 0 <= bit <= 15:
                    problems.append(f"status: bad bit {bit_name}: {bit!r}")
                else:
                    self.bits[bit_name] = bit
        self.commands = {}
        for cmd, spec in (data.get("commands") or {}).items():
            if not isinstance(spec, dict) or spec.get("kind") not in COMMAND_KINDS:
                problems.append(f"commands.{cmd}: kind is one of {sorted(COMMAND_KINDS)}")
                continue
            self.commands[cmd] = spec
        if self.slave not in range(0, 248) or self.function not in (3, 4):
            problems.append("slave is 0-247 and function is 3 or 4")
        addrs = [f["addr"] + n for f in self.fields.values() for n in range(TYPES[f["type"]][0])]
        if self.status_addr is not None:
            addrs.append(self.status_addr)
        if any(a < 0 for a in addrs):
            problems.append("a register is below address_base")
        if problems:
            raise MapError(f"register map {self.name}: " + "; ".join(problems))
        self.start = min(addrs)
        self.count = max(addrs) - self.start + 1
        if self.count > 125:
            raise MapError(f"register map {self.name}: fields span {self.count} registers (max 125)")

    def value(self, key: str, regs: list[int]):
        f = self.fields[key]
        n, fmt = TYPES[f["type"]]
        words = regs[f["addr"] - self.start: f["addr"] - self.start + n]
        if f.get("word_order", "big") == "little":
            words = words[::-1]
        v = struct.unpack(fmt, b"".join(w.to_bytes(2, "big") for w in words))[0]
        if f["type"] != "float32" and f.get("decimals"):
            v = Decimal(v).scaleb(-int(f["decimals"]))
        return v

    def bit(self, name: str, status: int | None) -> bool | None:
        if status is None or name not in self.bits:
            return None
        return bool(status >> self.bits[name] & 1)


class ModbusScaleDecoder(Decoder):
    """Pure: ``request()`` is the poll; ``feed(bytes)`` decodes response frames; ``decode_registers``
    turns the block's register values into a Reading (``None`` when the indicator flags them invalid)."""
    name = "modbus"
    summary = "Modbus RTU indicator, register map as data (--map)"

    def __init__(self, map: str | dict | ModbusMap = "tuna-id551pn", slave: int | None = None, **kw):
        super().__init__(**kw)
        self.map = load_map(map)
        self.slave = self.map.slave if slave is None else int(slave)
        self.serial = self.map.serial
        self.zero_request = None
        self.tare_request = None

    def request(self) -> bytes:
        m = self.map
        body = struct.pack(">BBHH", self.slave, m.function, m.start, m.count)
        return body + crc16(body)

    def response(self, regs: list[int]) -> bytes:
        """The response frame for these register values (what the slave sends back)."""
        body = struct.pack(">BBB", self.slave, self.map.function, 2 * len(regs)) + b"".join(
            r.to_bytes(2, "big") for r in regs)
        return body + crc16(body)

    def decode_registers(self, regs: list[int], raw: bytes = b"") -> Reading | None:
        m = self.map
        status = regs[m.status_addr - m.start] if m.status_addr is not None else None
        if m.bit("error", status) or m.bit("valid", status) is False:
            self._bad()
            return None
        weight = m.value("weight", regs)
        if weight != weight or weight in (float("inf"), float("-inf")):  # NaN/inf floats
            self._bad()
            return None
        grams = to_grams(str(weight) if isinstance(weight, float) else weight, m.unit)
        over, under = m.bit("overload", status), m.bit("underload", status)
        if m.bit("out_of_range", status):
            over, under = grams >= 0, grams < 0
        tare_g = to_grams(str(m.value("tare", regs)), m.unit) if "tare" in m.fields else None
        net = m.bit("net", status)
        if net is None:
            net = bool(tare_g)
        if m.bit("stable", status) is not None:
            stable = bool(m.bit("stable", status))
        else:
            stable = not m.bit("motion", status)
        raw = raw or self.response(regs)
        if over or under:
            self._limit(raw, over=bool(over), net=net)
        else:
            self._reading(raw, grams, stable, net=net, tare_g=tare_g)
        return self._out[-1] if self._out else None

    def feed(self, data: bytes) -> list[Reading]:
        self.buf += data
        out = []
        buf, n = self.buf, 5 + 2 * self.map.count
        fc = self.map.function
        while len(buf) >= 5:
            if buf[0] == self.slave and buf[1] == fc | 0x80 and crc16(bytes(buf[:3])) == bytes(buf[3:5]):
                self.replies.append(("exception", buf[2]))
                del buf[:5]
                continue
            if buf[0] != self.slave or buf[1] != fc or buf[2] != 2 * self.map.count:
                del buf[:1]
                continue
            if len(buf) < n:
                break
            frame = bytes(buf[:n])
            if crc16(frame[:-2]) != frame[-2:]:
                self._bad()
                del buf[:1]
                continue
            del buf[:n]
            regs = [int.from_bytes(frame[3 + 2 * i: 5 + 2 * i], "big") for i in range(self.map.count)]
            self._out = []
            r = self.decode_registers(regs, raw=frame)
            if r is not None:
                out.append(r)
        if len(buf) > self.max_buffer:
            del buf[: len(buf) - n]
        return out


class ModbusScale(Scale):
    """A Modbus indicator: minimalmodbus polls the register block on the port owner's thread;
    zero/tare go through the same thread (one transaction at a time on the bus)."""

    def __init__(self, port: str, decoder: ModbusScaleDecoder, on_reading=None, *, timeout_s: float = 0.5,
                 max_misses: int = 3, **kw):
        self._commands: queue.Queue = queue.Queue()
        self.timeout_s = timeout_s
        self.max_misses = max_misses
        self._interval = kw.get("poll_interval_s", 0.1)
        super().__init__(port, decoder, on_reading, session=self._session, **kw)

    def _command(self, what: str, request) -> None:
        spec = self.decoder.map.commands.get(what)
        if spec is None:
            raise Unsupported(f"register map {self.decoder.map.name} has no {what} command")
        if self.owner.state != "connected":
            raise PortNotConnected(f"{self.owner.port} is {self.owner.state}")
        done, result = threading.Event(), {}
        self._commands.put((spec, done, result))
        if not done.wait(self.timeout_s * 4 + 1):
            raise ScaleError(f"{what}: no answer from the indicator")
        if "error" in result:
            raise ScaleError(f"{what}: {result['error']}")

    def _run_command(self, inst, spec) -> None:
        m = self.decoder.map
        kind = spec["kind"]
        if kind == "coil":
            inst.write_bit(spec["address"] - spec.get("address_base", 0), 1, functioncode=5)
        elif kind == "register":
            inst.write_register(spec["register"] - m.base, int(spec["value"]), functioncode=6)
        else:  # pulse_bit: the indicator acts on a 0 -> 1 edge
            addr, mask = spec["register"] - m.base, 1 << int(spec["bit"])
            current = inst.read_register(addr, functioncode=3)
            inst.write_register(addr, current & ~mask, functioncode=6)
            inst.write_register(addr, current | mask, functioncode=6)

    def _session(self, owner, port) -> None:
        import minimalmodbus
        m = self.decoder.map
        port.timeout = self.timeout_s
        inst = minimalmodbus.Instrument(port, self.decoder.slave, mode=minimalmodbus.MODE_RTU)
        inst.clear_buffers_before_each_transaction = True
        misses = 0
        while not owner.stopping.is_set():
            while not self._commands.empty():
                spec, done, result = self._commands.get_nowait()
                try:
                    self._run_command(inst, spec)
                except (minimalmodbus.ModbusException, ValueError) as e:
                    result["error"] = str(e)
                done.set()
            try:
                regs = inst.read_registers(m.start, m.count, functioncode=m.function)
            except minimalmodbus.NoResponseError as e:
                misses += 1
                if misses >= self.max_misses:
                    raise ScaleError(f"no response from slave {self.decoder.slave}") from e
            except (minimalmodbus.ModbusException, ValueError) as e:
                owner.count_bad(e)
            else:
                misses = 0
                self.decoder._out = []
                bad_before = self.decoder.bad_frames
                r = self.decoder.decode_registers(regs)
                if r is not None:
                    owner.emit(r)
                elif self.decoder.bad_frames > bad_before:
                    owner.count_bad("indicator flags the data invalid")
            owner.stopping.wait(self._interval)
