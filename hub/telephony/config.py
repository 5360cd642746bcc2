"""The PBX file: SIP listener, trunks (SIP and E1), seats and the dial plan, as data.

A YAML document (docs/telephony.md has the full format and a sample)::

    sip: {listen: "127.0.0.1:5060", realm: scanhub, media_host: 127.0.0.1, media_ports: "20000-20999"}
    recording: {dir: recordings, default: false, keep_days: 90}
    trunks:
      - {name: carrier, kind: sip, host: 127.0.0.1, port: 5070}
      - {name: ct-bj-1, kind: e1, span: 1, protocol: r2-cn}
    seats:
      - {extension: "8001", password: "s3cret", name: Wang Fang}
    dialplan:
      - {number: "8001", to: "seat 8001", ring_s: 20, on_busy: "seat 8002", on_no_answer: "hangup no-answer"}
      - {prefix: "9", strip: 1, to: "trunk carrier"}

``load_pbx`` reads and checks everything (unknown keys, references between sections, formats)
and raises :class:`PbxConfigError` listing every problem with its place, so a typo never becomes a
silent default and nothing starts half-configured.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from hub.telephony.errors import PbxConfigError

#: what a dial plan target can be, and the SIP status of each ``hangup`` cause
TARGET_KINDS = ("seat", "trunk", "number", "hangup", "play", "ivr", "queue")
HANGUP_CAUSES = {"busy": 486, "no-answer": 480, "unavailable": 480, "rejected": 603, "congestion": 503,
                 "not-found": 404}
E1_KEYS = {"span", "name", "protocol", "timing", "lbo", "crc4", "line_code", "idle_abcd", "max_dnis", "max_ani",
           "context", "group", "switchtype", "category", "echocanceller"}
_NUMBER = re.compile(r"^[0-9*#+]{1,32}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class Target:
    kind: str          # seat | trunk | number | hangup | play | ivr | queue
    arg: str

    def __str__(self) -> str:
        return f"{self.kind} {self.arg}"


@dataclass
class Rule:
    index: int
    number: str | None = None
    prefix: str | None = None
    pattern: re.Pattern | None = None
    strip: int = 0
    origin: tuple[str, ...] = ()      # trunk names and/or "seats"; empty = from anywhere
    to: Target = Target("hangup", "not-found")
    ring_s: int = 30
    on_busy: Target | None = None
    on_no_answer: Target | None = None
    on_unregistered: Target | None = None

    def matches(self, dialled: str, origin: str) -> bool:
        if self.origin and origin not in self.origin:
            return False
        if self.number is not None:
            return dialled == self.number
        if self.prefix is not None:
            return dialled.startswith(self.prefix)
        return bool(self.pattern and self.pattern.search(dialled))


@dataclass
class SipTrunk:
    name: str
    host: str
    port: int = 5060
    username: str | None = None
    password: str | None = None
    record: bool | None = None
    kind: str = "sip"


@dataclass
class E1Trunk:
    name: str
    settings: dict            # for drivers.e1_card.trunks.trunk_from_dict
    backend: str = "sim"
    record: bool | None = None
    kind: str = "e1"


@dataclass
class Seat:
    extension: str
    password: str
    name: str = ""
    record: bool | None = None


@dataclass
class PbxConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 5060
    realm: str = "scanhub"
    media_host: str = "127.0.0.1"
    media_ports: tuple[int, int] = (20000, 20999)
    recording_dir: str = "recordings"
    record_default: bool = False
    keep_days: int | None = None
    trunks: dict[str, SipTrunk | E1Trunk] = field(default_factory=dict)
    seats: dict[str, Seat] = field(default_factory=dict)
    dialplan: list[Rule] = field(default_factory=list)
    source: str = "pbx"

    def route(self, dialled: str, origin: str) -> Rule | None:
        """The first dial plan rule for ``dialled`` from ``origin`` (a trunk name or ``seats``)."""
        for rule in self.dialplan:
            if rule.matches(dialled, origin):
                return rule
        return None

    def trunk_at(self, host: str, port: int) -> SipTrunk | None:
        """The SIP trunk whose peer is ``host:port`` (a trunk without a port matches any)."""
        for t in self.trunks.values():
            if isinstance(t, SipTrunk) and t.host == host and t.port in (port, None):
                return t
        return None

    def records(self, trunk: str | None = None, seat: str | None = None) -> bool:
        """Whether a call on ``trunk`` or to/from ``seat`` is recorded (the most specific says)."""
        for flag in (self.seats[seat].record if seat in self.seats else None,
                     self.trunks[trunk].record if trunk in self.trunks else None):
            if flag is not None:
                return flag
        return self.record_default


def load_pbx(path: str) -> PbxConfig:
    if not os.path.exists(path):
        raise PbxConfigError(path, ["file not found"])
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise PbxConfigError(path, [f"not valid YAML: {e}"]) from None
    except UnicodeDecodeError as e:
        raise PbxConfigError(path, [f"not UTF-8 text: {e}"]) from None
    cfg = check_pbx(raw, path, os.path.dirname(os.path.abspath(path)))
    if not os.path.isabs(cfg.recording_dir):
        cfg.recording_dir = os.path.join(os.path.dirname(os.path.abspath(path)), cfg.recording_dir)
    return cfg


def _s(v) -> str:
    return "" if v is None else str(v).strip()


def _hostport(text: str, where: str, problems: list[str]) -> tuple[str, int] | None:
    host, _, port = _s(text).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        problems.append(f"{where}: {text!r} is not host:port")
        return None
    return host, int(port)


def check_pbx(raw, source: str = "pbx", base_dir: str = ".") -> PbxConfig:
    """Check a parsed PBX file (``base_dir``: where relative file names in it start)."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise PbxConfigError(source, ["top level must be a mapping with sip, trunks, seats, dialplan"])
    cfg = PbxConfig(source=source)
    known = {"sip", "recording", "trunks", "seats", "dialplan"}
    for key in sorted(set(raw) - known):
        problems.append(f"unknown section {key!r} (known: {', '.join(sorted(known))})")

    def mapping(name, allowed):
        v = raw.get(name) or {}
        if not isinstance(v, dict):
            problems.append(f"{name}: must be a mapping")
            return {}
        for k in sorted(set(v) - allowed):
            problems.append(f"{name}: unknown key {k!r} (known: {', '.join(sorted(allowed))})")
        return v

    def items(name):
        v = raw.get(name) or []
        if not isinstance(v, list):
            problems.append(f"{name}: must be a list")
            return []
        out = []
        for i, item in enumerate(v):
            if isinstance(item, dict):
                out.append((i, item))
            else:
                problems.append(f"{name}[{i}]: must be a mapping, got {item!r}")
        return out

    sip = mapping("sip", {"listen", "realm", "media_host", "media_ports"})
    if "listen" in sip:
        hp = _hostport(sip["listen"], "sip.listen", problems)
        if hp:
            cfg.listen_host, cfg.listen_port = hp
    cfg.realm = _s(sip.get("realm")) or cfg.realm
    cfg.media_host = _s(sip.get("media_host")) or cfg.listen_host
    if "media_ports" in sip:
        m = re.match(r"^(\d+)-(\d+)$", _s(sip["media_ports"]))
        lo, hi = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        if not m or not 1024 <= lo < hi < 65536 or (hi - lo) < 3:
            problems.append(f"sip.media_ports: {sip['media_ports']!r} is not a range like 20000-20999 "
                            "(1024..65535, at least 4 ports)")
        else:
            cfg.media_ports = (lo, hi)

    rec = mapping("recording", {"dir", "default", "keep_days"})
    cfg.recording_dir = _s(rec.get("dir")) or cfg.recording_dir
    if "default" in rec:
        if not isinstance(rec["default"], bool):
            problems.append(f"recording.default: must be true or false, not {rec['default']!r}")
        else:
            cfg.record_default = rec["default"]
    if rec.get("keep_days") is not None:
        kd = rec["keep_days"]
        if isinstance(kd, bool) or not isinstance(kd, int) or kd < 1:
            problems.append(f"recording.keep_days: must be a whole number of days >= 1, not {kd!r}")
        else:
            cfg.keep_days = kd

    def flag(where, item, key):
        v = item.get(key)
        if v is not None and not isinstance(v, bool):
            problems.append(f"{where}: {key} must be true or false, not {v!r}")
            return None
        return v

    for i, t in items("trunks"):
        where = f"trunks[{i}]"
        name, kind = _s(t.get("name")), _s(t.get("kind")) or "sip"
        if not _NAME.match(name):
            problems.append(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' (1-64)")
            continue
        where = f"trunks[{i}] {name}"
        if name in cfg.trunks:
            problems.append(f"{where}: duplicate trunk name")
        if kind == "sip":
            allowed = {"name", "kind", "host", "port", "username", "password", "record"}
            for k in sorted(set(t) - allowed):
                problems.append(f"{where}: unknown key {k!r} for a SIP trunk (known: {', '.join(sorted(allowed))})")
            host = _s(t.get("host"))
            port = t.get("port", 5060)
            if not host:
                problems.append(f"{where}: missing host")
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                problems.append(f"{where}: port must be 1..65535, not {port!r}")
                port = 5060
            if bool(t.get("username")) != bool(t.get("password")):
                problems.append(f"{where}: username and password go together")
            cfg.trunks[name] = SipTrunk(name, host, port, _s(t.get("username")) or None,
                                        _s(t.get("password")) or None, flag(where, t, "record"))
        elif kind == "e1":
            ours = {"kind", "backend", "record"}
            settings = {k: v for k, v in t.items() if k not in ours}
            for k in sorted(set(settings) - E1_KEYS):
                problems.append(f"{where}: unknown key {k!r} for an E1 trunk (known: "
                                f"{', '.join(sorted(E1_KEYS | ours))})")
                settings.pop(k)
            backend = _s(t.get("backend")) or "sim"
            if backend not in ("sim", "dahdi"):
                problems.append(f"{where}: backend must be sim or dahdi, not {backend!r}")
            from drivers.e1_card.errors import E1Error
            from drivers.e1_card.trunks import trunk_from_dict
            try:
                trunk_from_dict(settings)
            except E1Error as e:
                problems.append(f"{where}: {e}")
            spans = [x.settings.get("span") for x in cfg.trunks.values() if isinstance(x, E1Trunk)]
            if settings.get("span") in spans:
                problems.append(f"{where}: span {settings.get('span')} is already another trunk's")
            cfg.trunks[name] = E1Trunk(name, settings, backend, flag(where, t, "record"))
        else:
            problems.append(f"{where}: kind must be sip or e1, not {kind!r}")

    for i, s in items("seats"):
        where = f"seats[{i}]"
        allowed = {"extension", "password", "name", "record"}
        for k in sorted(set(s) - allowed):
            problems.append(f"{where}: unknown key {k!r} (known: {', '.join(sorted(allowed))})")
        ext, pw = _s(s.get("extension")), _s(s.get("password"))
        if not re.match(r"^[0-9]{2,16}$", ext):
            problems.append(f"{where}: extension {ext!r} must be 2-16 digits")
            continue
        where = f"seats[{i}] {ext}"
        if ext in cfg.seats:
            problems.append(f"{where}: duplicate extension")
        if len(pw) < 4:
            problems.append(f"{where}: password must have at least 4 characters")
        cfg.seats[ext] = Seat(ext, pw, _s(s.get("name")), flag(where, s, "record"))

    def target(where, key, value) -> Target | None:
        text = _s(value)
        kind, _, arg = text.partition(" ")
        arg = arg.strip()
        if kind not in TARGET_KINDS or not arg:
            problems.append(f"{where}: {key} {text!r} must be 'seat EXT', 'trunk NAME', 'number N', "
                            f"'hangup CAUSE', 'play FILE.wav', 'ivr FLOW' or 'queue NAME'")
            return None
        if kind == "seat" and arg not in cfg.seats:
            problems.append(f"{where}: {key} names seat {arg}, which is not in seats")
        elif kind == "trunk" and arg not in cfg.trunks:
            problems.append(f"{where}: {key} names trunk {arg!r}, which is not in trunks")
        elif kind == "number" and not _NUMBER.match(arg):
            problems.append(f"{where}: {key} number {arg!r} is not a dialable number")
        elif kind == "hangup" and arg not in HANGUP_CAUSES:
            problems.append(f"{where}: {key} cause {arg!r} is not one of {', '.join(HANGUP_CAUSES)}")
        elif kind in ("ivr", "queue") and not _NAME.match(arg):
            problems.append(f"{where}: {key} {kind} {arg!r} is not a name (letters, digits, '.', '_', '-')")
        elif kind == "play":
            path = arg if os.path.isabs(arg) else os.path.join(base_dir, arg)
            from hub.telephony.playback import check_wav
            why = check_wav(path)
            if why:
                problems.append(f"{where}: {key} {arg!r}: {why}")
            arg = path
        return Target(kind, arg)

    for i, r in items("dialplan"):
        where = f"dialplan[{i}]"
        allowed = {"number", "prefix", "pattern", "strip", "from", "to", "ring_s", "on_busy", "on_no_answer",
                   "on_unregistered"}
        for k in sorted(set(r) - allowed):
            problems.append(f"{where}: unknown key {k!r} (known: {', '.join(sorted(allowed))})")
        rule = Rule(i)
        given = [k for k in ("number", "prefix", "pattern") if k in r]
        if len(given) != 1:
            problems.append(f"{where}: give exactly one of number, prefix, pattern")
        elif given[0] == "pattern":
            try:
                rule.pattern = re.compile(_s(r["pattern"]))
            except re.error as e:
                problems.append(f"{where}: pattern {r['pattern']!r} is not a regular expression: {e}")
        else:
            v = _s(r[given[0]])
            if not _NUMBER.match(v):
                problems.append(f"{where}: {given[0]} {v!r} is not a dialable number")
            setattr(rule, given[0], v)
        strip = r.get("strip", 0)
        if isinstance(strip, bool) or not isinstance(strip, int) or not 0 <= strip <= 16:
            problems.append(f"{where}: strip must be 0..16 digits, not {strip!r}")
        else:
            rule.strip = strip
        ring = r.get("ring_s", 30)
        if isinstance(ring, bool) or not isinstance(ring, (int, float)) or not 0 < ring <= 600:
            problems.append(f"{where}: ring_s must be 1..600 seconds, not {ring!r}")
        else:
            rule.ring_s = ring
        origin = r.get("from") or []
        origin = [origin] if isinstance(origin, str) else origin
        if not isinstance(origin, list):
            problems.append(f"{where}: from must be a trunk name, 'seats', or a list of them")
            origin = []
        for o in origin:
            if o != "seats" and o not in cfg.trunks:
                problems.append(f"{where}: from names {o!r}, which is neither a trunk nor 'seats'")
        rule.origin = tuple(str(o) for o in origin)
        if "to" not in r:
            problems.append(f"{where}: missing to")
        else:
            rule.to = target(where, "to", r["to"]) or rule.to
        for key in ("on_busy", "on_no_answer", "on_unregistered"):
            if r.get(key) is not None:
                setattr(rule, key, target(where, key, r[key]))
        cfg.dialplan.append(rule)
    if problems:
        raise PbxConfigError(source, problems)
    return cfg
