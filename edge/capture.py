"""The one way a scan enters a station: validate, store durably, then answer.

``Capture.scan(text, device=…)`` returns a ``Verdict``: ``accepted`` (the good beep: the scan is
committed to the outbox), ``refused`` with a one-line reason (the error beep), or ``control`` when
the text was a control barcode that changed the device's scanning context.

Control barcodes (printable as Code 128; see docs/operations.md)::

    %K<kind>     scan kind: RECEIVE DISPATCH ARRIVE DELIVER SIGN PROBLEM HOLD (or 1..7),
                 BAG_BUILD BAG_OPEN LOAD UNLOAD (or 8..11)
    %P<staff>    operator (who is scanning)          %C<staff>  courier (receive / delivery)
    %S<site>     next site (dispatch) or previous site (arrive)
    %D<site>     destination site                    %H<shift>  line-haul shift
    %G<name>     signer (sign scans)                  %X         clear the context but kind/operator
    %F<cents>    freight collect on the next receive  %M<cents>  COD amount on the next receive
    %R<code>     reason code (problem / hold scans)   %T<type>   sign type (sign scans: SIGN_TYPES)
    %B<bag>      bag number (bag build / bag open)    %L<seal>   seal number (load / unload)
    %N<pin>      the PIN after %P<login> (``login="pin"``: operators are the hub's gun users)

    %E<site>     waybill entry mode to that destination (``edge.entry``); %E alone ends it
    %U<task>     pickup task (receive scans): the next receives close it (``contract.pickup``); %U alone ends it

A load or unload scan reads a bag number (``BAG_RE``) instead of a waybill: the bag is scanned as
one unit, and every parcel built into it inherits the scan at the hub (docs/hub-business.md, "Bags").

Each device's context is kept in the outbox (meta ``contexts``) whenever a control code changes
it, so a restarted station scans on with the same kind, operator, sites and shift.  With
``idle_logout_ms`` an operator who has not scanned for that long is logged out (also across a
restart: the time of the last control code or scan is kept with the context).

With ``login="pin"`` the operator is a gun user of the site's configuration (network file
``gun_users``): ``%P<login>`` then ``%N<PIN>`` (checked against the salted hash; three wrong PINs
end the attempt), and each scan's kind must be one the user may do.  The scan's ``operator`` is
the user's staff code.
"""
from __future__ import annotations

import re
import threading
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Callable

from contract.errors import PayloadError
from contract.issuance import IssuanceIndex
from contract.routing import RoutingData
from contract.scan import BAG_KINDS, KINDS, SIGN_TYPES, UNIT_KINDS, validate_scan
from contract.waybill import WaybillRules
from edge.clock import StationClock
from edge.outbox import WARN_FRACTION, Outbox, OutboxError

CONTROL_PREFIX = "%"
#: A bag (or cage) label: 4-40 characters A-Z 0-9 and "-" that the waybill rules do not accept.
BAG_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{3,39}")
REPEAT_WINDOW_MS = 10 * 60 * 1000


@dataclass
class Context:
    """What a gun (or the local menu) has selected; each device has its own."""
    kind: str | None = None
    operator: str | None = None
    courier: str | None = None
    site_ref: str | None = None       # next site (dispatch) / previous site (arrive)
    dest: str | None = None
    shift: str | None = None
    signer: str | None = None
    sign_type: str | None = None
    reason: str | None = None
    bag: str | None = None
    seal: str | None = None
    freight_collect_cents: int | None = None    # one-shot: applies to the next receive only
    cod_cents: int | None = None                # one-shot: applies to the next receive only
    active_ms: int | None = None      # UTC epoch ms of the device's last control code or scan
    login: str | None = None          # login="pin": the gun user logged in on this device
    pending_login: str | None = None  # login="pin": %P seen, waiting for %N
    pin_failures: int = 0
    pickup: str | None = None         # the pickup task the next receive scans close (%U)
    pickup_left: int | None = None    # receives still to link to it (its parcels expected)

    @classmethod
    def from_dict(cls, d: dict) -> "Context":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class NoWeight(Exception):
    """Raised by a weight source that knows why there is no weight (e.g. the scale is away);
    its message is the refusal the operator sees."""


@dataclass
class Verdict:
    outcome: str                      # "accepted" | "refused" | "control"
    reason: str = ""
    scan: dict | None = None
    seq: int | None = None
    warning: str | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    @property
    def beep(self) -> str:
        return {"accepted": "good", "control": "ok"}.get(self.outcome, "error")

    @property
    def detail(self) -> str:
        """What an operator checks on an accepted scan: an arrival's weight, a dispatch's next stop."""
        if not self.scan:
            return ""
        out = []
        if self.scan.get("weight_g") is not None:
            out.append(f"weight {self.scan['weight_g']} g")
        if self.scan.get("next_site"):
            out.append(f"next stop {self.scan['next_site']}")
        if (self.scan.get("extra") or {}).get("pickup"):
            out.append(f"pickup {self.scan['extra']['pickup']}")
        return ", ".join(out)

    def __str__(self) -> str:
        if self.outcome == "accepted":
            notes = [n for n in (self.detail, self.warning) if n]
            return f"accepted {self.scan['kind']} {self.scan['waybill']}" + (f" ({'; '.join(notes)})" if notes else "")
        return f"{self.outcome}: {self.reason}"


class ConfigView:
    """Fast lookups over the station configuration slice (format: docs/protocol.md)."""

    def __init__(self, cfg: dict | None):
        self.cfg = cfg or {}
        self.version = self.cfg.get("version")
        self.sites = {s["code"]: s for s in self.cfg.get("sites", [])}
        self.staff = {p["code"]: p for p in self.cfg.get("staff", [])}
        self.shifts = {s["code"]: s for s in self.cfg.get("shifts", [])}
        self.blocked = set(self.cfg.get("blocked_sites", []))
        self.rules = WaybillRules(self.cfg.get("waybill_rules", []))
        self.routing = RoutingData.from_config(self.cfg)
        self.issuance = IssuanceIndex.from_config(self.cfg)
        self.reasons = {r["code"]: r for r in self.cfg.get("reasons", [])}
        self.gun_users = {u["login"]: u for u in self.cfg.get("gun_users", []) if u.get("site") in (None, self.cfg.get("site"))}

    def origin_of(self, waybill: str) -> str | None:
        """The site the waybill number was issued to (``contract.issuance``: the hub's answer too)."""
        return self.issuance.site_of(waybill)


class Capture:
    """The capture API: every read from every device of a station goes through ``scan``.

    It validates everything that can be checked offline — control codes and the per-device
    context, waybill rules, the kind's own fields (next stop from ``contract.routing``, blocked
    sites, a stable scale weight), repeat scans, and the hub's own schema (``contract.scan``) —
    then commits the scan durably to the ``Outbox`` and only then answers ``accepted`` (the good
    beep).  ``scan_batch`` does the same for a wireless gun's upload in one transaction.
    Control barcodes: docs/operations.md.
    """

    def __init__(self, station: str, site: str, outbox: Outbox, clock: StationClock,
                 config: dict | None = None, weight_source: Callable[[], int | None] | None = None,
                 repeat_window_ms: int = REPEAT_WINDOW_MS, offline_staff=None,
                 idle_logout_ms: int | None = None, keep_contexts: bool = True, login: str = "staff",
                 pickup_task: Callable[[str], dict | None] | None = None):
        self.station, self.site = station, site
        self.outbox, self.clock = outbox, clock
        self.view = ConfigView(config)
        self.weight_source = weight_source
        self.repeat_window_ms = repeat_window_ms
        # live scans of the last repeat window, so the repeat check costs no query per scan
        self._recent: dict[tuple[str, str], int] = {
            (wb, kind): t for wb, kind, t in outbox.captures_since(clock.wall() - repeat_window_ms)}
        # staff codes a station that has not reached the hub yet accepts (None: any code)
        self.offline_staff = None if offline_staff is None else set(offline_staff)
        self.idle_logout_ms = idle_logout_ms
        self.login = login
        self.pickup_task = pickup_task    # code -> the task of the station's list, or None
        self.keep_contexts = keep_contexts
        self.contexts: dict[str, Context] = self._load_contexts() if keep_contexts else {}
        self._lock = threading.RLock()
        self.listeners: list[Callable[[str, Verdict], None]] = []
        # reads a device makes in waybill-entry mode go to entry instead (``edge.entry``)
        self.entry_hook: Callable[[str, str, int | None], Verdict | None] | None = None

    def set_config(self, cfg: dict) -> None:
        self.view = ConfigView(cfg)

    def context(self, device: str = "menu") -> Context:
        with self._lock:
            return self.contexts.setdefault(device, Context())

    def _load_contexts(self) -> dict[str, Context]:
        import json
        try:
            raw = json.loads(self.outbox.get_meta("contexts", "{}") or "{}")
            return {str(d): Context.from_dict(c) for d, c in raw.items() if isinstance(c, dict)}
        except (ValueError, TypeError, AttributeError):
            return {}

    def save_contexts(self) -> None:
        """Keep every device's context in the outbox (done on each control code and at stop)."""
        if not self.keep_contexts:
            return
        import json
        with self._lock:
            body = json.dumps({d: asdict(c) for d, c in self.contexts.items()}, ensure_ascii=False)
        try:
            self.outbox.set_meta("contexts", body)
        except Exception:        # a full disk refuses scans on its own; the context is a convenience
            pass

    def staff_known(self, code: str) -> str | None:
        """None when ``code`` may scan here, else why not.  With the hub's configuration its
        staff list decides; before the station first reached the hub only ``offline_staff``."""
        if self.view.staff:
            return None if code in self.view.staff else f"unknown staff code {code} for site {self.site}"
        if self.offline_staff is not None and code not in self.offline_staff:
            return (f"staff {code} is not on this station's staff list, and the station has not reached "
                    f"the hub yet to learn site {self.site}'s staff")
        return None

    def _idle_out(self, ctx: Context, now: int) -> bool:
        """Log out an operator idle for ``idle_logout_ms``; True when it happened now."""
        if (self.idle_logout_ms and ctx.operator and ctx.active_ms is not None
                and now - ctx.active_ms > self.idle_logout_ms):
            ctx.operator = ctx.login = None
            return True
        return False

    # ------------------------------------------------------------ the capture API
    def scan(self, text: str, device: str = "menu", weight_g: int | None = None,
             captured_ms: int | None = None, extra: dict | None = None, **overrides) -> Verdict:
        """Capture one barcode read.  ``overrides`` set context fields for this scan only
        (``kind``, ``operator``, ``courier``, ``site_ref``, ``dest``, ``shift``, ``signer``);
        ``captured_ms`` is the scan's own time when it was made earlier (wireless gun batches);
        ``extra``: more for the scan's ``extra`` (a return marker, ``edge.entry``)."""
        verdict = None
        if self.entry_hook is not None and captured_ms is None and not overrides and not extra:
            verdict = self.entry_hook(text, device, weight_g)
        if verdict is None:
            verdict = self._scan(text, device, weight_g, overrides, captured_ms, extra)
        if verdict.outcome == "control":
            self.save_contexts()
        for fn in self.listeners:
            fn(device, verdict)
        return verdict

    def scan_batch(self, items: list[dict]) -> list[Verdict]:
        """Capture a wireless gun's upload in one durable transaction.  Each item is a dict with
        ``text`` and optionally ``device``, ``weight_g``, ``captured_ms`` and context overrides;
        every item gets its own verdict, and the accepted ones are committed together."""
        verdicts: list[Verdict | None] = []
        staged, seen = [], set()
        for it in items:
            it = dict(it)
            text, device = it.pop("text", None), it.pop("device", "batch")
            weight, captured = it.pop("weight_g", None), it.pop("captured_ms", None)
            prep = self._prepare(text, device, weight, it, captured)
            if isinstance(prep, Verdict):
                verdicts.append(prep)
                continue
            key = (prep[0]["waybill"], prep[0]["kind"])
            if key in seen:
                verdicts.append(Verdict("refused", f"repeat scan: {key[0]} twice as {key[1]} in one upload"))
                continue
            seen.add(key)
            staged.append((len(verdicts), prep))
            verdicts.append(None)
        if staged:
            try:
                seqs = self.outbox.add_many([(scan, created, mono, self.clock.boot) for _, (scan, created, mono) in staged])
            except OutboxError as e:
                seqs = None
                for i, _ in staged:
                    verdicts[i] = Verdict("refused", str(e))
            if seqs is not None:
                for (i, (scan, _, _)), seq in zip(staged, seqs):
                    self._remember(scan)
                    self._used_pickup(self.context(scan["device"]), scan)
                    verdicts[i] = Verdict("accepted", scan=scan, seq=seq, warning=self._fill_warning())
        for it, v in zip(items, verdicts):
            for fn in self.listeners:
                fn(it.get("device", "batch"), v)
        return verdicts

    @staticmethod
    def _used_pickup(ctx: Context, scan: dict) -> None:
        """One more parcel of the device's pickup task is received: the task ends on its last."""
        if ctx.pickup and (scan.get("extra") or {}).get("pickup") == ctx.pickup:
            ctx.pickup_left = (ctx.pickup_left or 1) - 1
            if ctx.pickup_left <= 0:
                ctx.pickup = ctx.pickup_left = None

    def _fill_warning(self) -> str | None:
        limit = self.outbox.limits.max_pending
        if limit and self.outbox.pending >= WARN_FRACTION * limit:
            return f"outbox {self.outbox.pending / limit:.0%} full ({self.outbox.pending} waiting for the hub)"
        return None

    def _scan(self, text, device, weight_g, overrides, captured_ms=None, extra=None) -> Verdict:
        prep = self._prepare(text, device, weight_g, overrides, captured_ms, extra)
        if isinstance(prep, Verdict):
            return prep
        scan, created, mono = prep
        try:
            seq = self.outbox.add(scan, created, mono, self.clock.boot)
        except OutboxError as e:
            return Verdict("refused", str(e))
        self._remember(scan)
        ctx = self.context(device)
        ctx.active_ms = scan["edge_ms"]
        if scan.get("extra"):                     # amounts were for this waybill only
            ctx.freight_collect_cents = ctx.cod_cents = None
            self._used_pickup(ctx, scan)
            self.save_contexts()
        return Verdict("accepted", scan=scan, seq=seq, warning=self._fill_warning())

    def _prepare(self, text, device, weight_g, overrides, captured_ms=None, extra=None):
        """A refusal or control ``Verdict``, or ``(scan, created_ms, mono_ms)`` ready to store."""
        if not isinstance(text, str):
            return Verdict("refused", "not a barcode text")
        text = text.strip()
        if text.startswith(CONTROL_PREFIX):
            return self._control(text, device)
        ctx = self.context(device)
        live = captured_ms is None
        if live and self._idle_out(ctx, self.clock.wall()):
            self.save_contexts()
            again = "log in again (%P login, then %N PIN)" if self.login == "pin" else "scan your staff code again (%P code)"
            return Verdict("refused", f"logged out after {self.idle_logout_ms / 60000:g} min without scanning: {again}")
        c = Context(**{**ctx.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
        if c.kind not in KINDS:
            return Verdict("refused", "choose a scan kind first (scan a %K kind code)")
        if self.login == "pin":
            user = self.view.gun_users.get(ctx.login or "")
            if user is None:
                return Verdict("refused", "log in first: %P your login, then %N your PIN")
            if c.kind not in user.get("kinds", []):
                return Verdict("refused", f"{user['login']} may not do {c.kind} scans "
                                          f"(allowed: {', '.join(user.get('kinds', [])) or 'none'})")
            c.operator = user["staff"]
        if not c.operator:
            return Verdict("refused", "scan your staff code first (%P code)")
        why = self.staff_known(c.operator)
        if why:
            return Verdict("refused", why)
        if c.kind in UNIT_KINDS:
            if not BAG_RE.fullmatch(text) or self.view.rules.refusal(text) is None:
                return Verdict("refused", f"{text!r} is not a bag label (4-40 characters A-Z, 0-9, -, and no "
                                          f"waybill number): a {c.kind} scan reads the bag, not a parcel")
        else:
            why = self.view.rules.refusal(text)
            if why:
                return Verdict("refused", why)
        scan = {"kind": c.kind, "waybill": text, "site": self.site, "operator": c.operator, "device": device}
        why = self._kind_fields(scan, c, weight_g, live=captured_ms is None)
        if why:
            return Verdict("refused", why)
        if extra:
            scan["extra"] = {**scan.get("extra", {}), **extra}
        created, mono = self.clock.wall(), self.clock.mono()
        if captured_ms is not None:          # made earlier on a wireless gun: same clock, older reading
            mono -= max(0, created - captured_ms)
            created = captured_ms
        why = self._repeat(text, c.kind, created, live=captured_ms is None)
        if why:
            return Verdict("refused", why)
        scan.update(id=uuid.uuid4().hex, station=self.station, epoch=self.outbox.epoch, edge_ms=created)
        try:                                 # the hub's own schema: no good beep for what it would refuse
            validate_scan(scan, stamped=False)
        except PayloadError as e:
            return Verdict("refused", f"the hub would refuse this scan: {e}")
        return scan, created, mono

    def _kind_fields(self, scan: dict, c: Context, weight_g: int | None, live: bool = True) -> str | None:
        v = self.view
        if c.kind == "receive":
            scan["courier"] = c.courier or c.operator
            if c.dest:
                scan["dest_site"] = c.dest
            money = {k: getattr(c, k) for k in ("freight_collect_cents", "cod_cents") if getattr(c, k)}
            if money:
                if self.site in v.blocked:
                    return (f"site {self.site} is blocked (prepaid balance under its warning amount): "
                            "no freight-collect or COD waybills until it tops up")
                scan["extra"] = money
            if c.pickup:
                scan["extra"] = {**scan.get("extra", {}), "pickup": c.pickup}
        elif c.kind == "dispatch":
            nxt = c.site_ref or v.routing.resolve(self.site, c.dest, c.shift)
            if not nxt:
                return ("no next stop: scan a next-site code, or a destination (and shift) "
                        "the next-stop table knows")
            if v.sites and nxt not in v.sites:
                return f"unknown next site {nxt}"
            scan["next_site"] = nxt
            if c.dest:
                scan["dest_site"] = c.dest
            if c.shift:
                if v.shifts and c.shift not in v.shifts:
                    return f"unknown shift {c.shift}"
                scan["shift"] = c.shift
        elif c.kind == "arrive":
            origin = v.origin_of(scan["waybill"])
            here = v.sites.get(self.site, {})
            if origin and origin in v.blocked and here.get("kind") == "center":
                return f"origin site {origin} is blocked (prepaid balance under its warning amount)"
            if c.site_ref:
                scan["prev_site"] = c.site_ref
            if weight_g is None and self.weight_source is not None and live:
                try:
                    weight_g = self.weight_source()
                except NoWeight as e:
                    return str(e)
                if weight_g is None:
                    return "no stable weight from the scale: let the parcel settle and scan again"
            if weight_g is not None:
                if not isinstance(weight_g, int) or weight_g <= 0:
                    return f"bad weight {weight_g!r} g"
                scan["weight_g"] = weight_g
        elif c.kind == "deliver":
            if not c.courier:
                return "scan the delivery courier's code first (%C code)"
            if self.staff_known(c.courier):
                return f"unknown courier {c.courier}"
            scan["courier"] = c.courier
        elif c.kind == "sign":
            if not c.signer:
                return "scan or enter the signer first (%G name)"
            scan["signer"] = c.signer
            if c.sign_type:
                scan["sign_type"] = c.sign_type
            if c.courier:
                scan["courier"] = c.courier
        elif c.kind in ("problem", "hold"):
            if c.reason:
                r = v.reasons.get(c.reason)
                if v.reasons and r is None:
                    return f"unknown reason code {c.reason}"
                if r is not None and c.kind not in r["kinds"]:
                    return f"reason {c.reason} ({r['name']}) is not a {c.kind} reason"
                scan["reason"] = c.reason
            elif any(c.kind in r["kinds"] for r in v.reasons.values()):
                return f"scan a {c.kind} reason code first (%R code)"
        elif c.kind in BAG_KINDS:
            if not c.bag:
                return "scan the bag label first (%B bag number)"
            scan["bag"] = c.bag
        elif c.kind in UNIT_KINDS:
            scan["bag"] = scan["waybill"]
            if c.seal:
                scan["seal"] = c.seal
            if c.kind == "load":
                nxt = c.site_ref or v.routing.resolve(self.site, c.dest, c.shift)
                if not nxt:
                    return "no next stop for the load: scan a next-site code (%S) or a destination (%D)"
                if v.sites and nxt not in v.sites:
                    return f"unknown next site {nxt}"
                scan["next_site"] = nxt
                if c.shift:
                    scan["shift"] = c.shift
            elif c.site_ref:
                scan["prev_site"] = c.site_ref
        return None

    def _repeat(self, waybill: str, kind: str, now: int, live: bool = True) -> str | None:
        # a live scan is checked against the window in memory; a gun's stored record against the
        # whole outbox (a re-sent upload, even after a restart, must not count twice)
        last = self._recent.get((waybill, kind)) if live else self.outbox.last_capture(waybill, kind)
        if last is not None and 0 <= now - last < self.repeat_window_ms:
            return f"repeat scan: {waybill} already scanned as {kind} here {(now - last) // 1000} s ago"
        return None

    def _remember(self, scan: dict) -> None:
        recent = self._recent
        recent[(scan["waybill"], scan["kind"])] = scan["edge_ms"]
        if len(recent) > 200_000:                 # keep only the window
            horizon = self.clock.wall() - self.repeat_window_ms
            self._recent = {k: t for k, t in recent.items() if t >= horizon}

    def _login(self, ctx: Context, login: str) -> Verdict:
        users = self.view.gun_users
        if not users:
            return Verdict("refused", f"this station logs in gun users, and the hub has sent none for site {self.site} "
                                      "yet (gun_users in the network file)")
        if login not in users:
            return Verdict("refused", f"unknown gun user {login} at site {self.site}")
        ctx.operator = ctx.login = None
        ctx.pending_login, ctx.pin_failures = login, 0
        return Verdict("control", f"user {login}: enter the PIN (%N PIN)")

    def _pin(self, ctx: Context, pin: str) -> Verdict:
        import hmac

        from contract.config import hash_pin
        user = self.view.gun_users.get(ctx.pending_login or "")
        if self.login != "pin" or user is None:
            return Verdict("refused", "no log-in waiting for a PIN: %P your login first")
        if not pin.isdigit() or not hmac.compare_digest(hash_pin(pin, user["pin_salt"])[1], user["pin_hash"]):
            ctx.pin_failures += 1
            if ctx.pin_failures >= 3:
                ctx.pending_login, ctx.pin_failures = None, 0
                return Verdict("refused", "wrong PIN three times: log in again (%P login)")
            return Verdict("refused", f"wrong PIN for {user['login']} ({3 - ctx.pin_failures} tries left)")
        ctx.login, ctx.operator, ctx.pending_login, ctx.pin_failures = user["login"], user["staff"], None, 0
        return Verdict("control", f"logged in {user['login']} (staff {user['staff']}): "
                                  f"{', '.join(user.get('kinds', []))}")

    def _pickup(self, ctx: Context, code: str) -> Verdict:
        from contract.pickup import is_code
        if not code:
            had, ctx.pickup, ctx.pickup_left = ctx.pickup, None, None
            return Verdict("control", f"pickup {had} ended" if had else "no pickup task")
        if not is_code(code):
            return Verdict("refused", f"{code[:20]!r} is not a pickup task code (PK and 6-12 digits)")
        if ctx.kind != "receive":
            return Verdict("refused", "a pickup task is closed by receive scans: scan %KRECEIVE first")
        task = self.pickup_task(code) if self.pickup_task else None
        ctx.pickup, ctx.pickup_left = code, (task or {}).get("parcels") or 1
        if task is None:
            return Verdict("control", f"pickup {code} (not in this station's task list: the next receive links to it)")
        who = task.get("sender") or task.get("phone") or ""
        return Verdict("control", f"pickup {code} {who}: receive its {ctx.pickup_left} parcel(s)")

    def _control(self, text: str, device: str) -> Verdict:
        code, value = text[1:2].upper(), text[2:].strip()
        ctx = self.context(device)
        now = self.clock.wall()
        self._idle_out(ctx, now)
        ctx.active_ms = now
        if code == "K":
            kind = value.lower()
            if value.isdigit() and 1 <= int(value) <= len(KINDS):
                kind = KINDS[int(value) - 1]
            if kind not in KINDS:
                return Verdict("refused", f"unknown scan kind {value!r}")
            if ctx.kind != kind:
                ctx.site_ref = ctx.dest = ctx.shift = ctx.signer = ctx.sign_type = ctx.reason = None
                ctx.bag = ctx.seal = ctx.pickup = ctx.pickup_left = None
            ctx.kind = kind
            return Verdict("control", f"kind {kind}")
        if code == "X":
            kind, op = ctx.kind, ctx.operator
            self.contexts[device] = Context(kind=kind, operator=op, login=ctx.login, active_ms=now)
            return Verdict("control", "context cleared")
        if code == "U":
            return self._pickup(ctx, value.upper())
        if not value:
            return Verdict("refused", f"control code {text!r} has no value")
        v = self.view
        if code == "P" and self.login == "pin":
            return self._login(ctx, value)
        if code == "N":
            return self._pin(ctx, value)
        if code in ("P", "C"):
            why = self.staff_known(value)
            if why:
                return Verdict("refused", why)
            setattr(ctx, "operator" if code == "P" else "courier", value)
            return Verdict("control", f"{'operator' if code == 'P' else 'courier'} {value}")
        if code in ("S", "D"):
            if v.sites and value not in v.sites:
                return Verdict("refused", f"unknown site code {value}")
            if code == "S":
                ctx.site_ref = value
            else:
                ctx.dest = value
            return Verdict("control", f"{'site' if code == 'S' else 'destination'} {value}")
        if code == "H":
            if v.shifts and value not in v.shifts:
                return Verdict("refused", f"unknown shift {value}")
            ctx.shift = value
            return Verdict("control", f"shift {value}")
        if code == "G":
            ctx.signer = value
            return Verdict("control", f"signer {value}")
        if code == "R":
            if v.reasons and value not in v.reasons:
                return Verdict("refused", f"unknown reason code {value}")
            ctx.reason = value
            name = v.reasons.get(value, {}).get("name")
            return Verdict("control", f"reason {value}" + (f" ({name})" if name else ""))
        if code == "T":
            kind = value.lower()
            if kind not in SIGN_TYPES:
                return Verdict("refused", f"unknown sign type {value!r} (one of {', '.join(SIGN_TYPES)})")
            ctx.sign_type = kind
            return Verdict("control", f"sign type {kind}")
        if code == "B":
            if not BAG_RE.fullmatch(value) or v.rules.refusal(value) is None:
                return Verdict("refused", f"{value!r} is not a bag label (4-40 characters A-Z, 0-9, -)")
            ctx.bag = value
            return Verdict("control", f"bag {value}")
        if code == "L":
            ctx.seal = value
            return Verdict("control", f"seal {value}")
        if code in ("F", "M"):
            if not value.isdigit() or int(value) <= 0:
                return Verdict("refused", f"amount must be a positive number of cents, not {value!r}")
            field = "freight_collect_cents" if code == "F" else "cod_cents"
            setattr(ctx, field, int(value))
            return Verdict("control", f"{'freight collect' if code == 'F' else 'COD'} {int(value) / 100:.2f} on the next receive")
        return Verdict("refused", f"unknown control code {text[:2]!r}")
