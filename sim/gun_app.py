"""What a simulated gun does with its active image: the operator's side of a wireless gun.

``GunApp(image_bytes, public_key, gun_id)`` checks the image (as the gun does at boot) and then

- logs users in by login + PIN against the image's salted PBKDF2 hashes (5 wrong PINs in a row
  lock the login until the gun restarts);
- refuses scan kinds the logged-in user may not do;
- validates waybill numbers with the network's rules (``contract.waybill``);
- resolves a dispatch scan given as "shift + destination" to the next site with the gun's own
  resolver (``sim.gun_routing``);
- refuses arrival scans of parcels whose issuing site (from the issuance ranges) is blocked;
- keeps accepted scans as batch records (``sim.batch_gun`` format) with a per-gun sequence number,
  in ``store_dir`` when given so that they and the sequence survive a restart, and produces the
  batch upload its cradle sends.

Refusals raise ``ScanRefused`` / ``LoginRefused`` with the one-line reason the gun displays.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from bisect import bisect_right
from pathlib import Path

from contract.scan import BAG_KINDS, SIGN_TYPES, UNIT_KINDS
from contract.waybill import WaybillRules
from firmware_images import container
from contract.config import PIN_ITERATIONS
from sim.batch_gun import encode_batch
from sim.gun_routing import GunRouter

BAG_LABEL = re.compile(r"[A-Z0-9][A-Z0-9-]{3,39}")   # as a station reads them (edge.capture.BAG_RE)

MAX_PIN_FAILURES = 5


class GunAppError(Exception):
    """Base class of refusals at the gun."""


class LoginRefused(GunAppError):
    """Unknown login, wrong PIN or locked login."""


class ScanRefused(GunAppError):
    """A scan the gun will not record; the message is the reason it shows."""


class GunApp:
    def __init__(self, image: bytes, public_key, gun_id: str, store_dir: str | Path | None = None,
                 clock_ms=None):
        loaded = container.read_image(image, public_key)
        self.info, self.config = loaded.info, loaded.config
        self.gun_id = gun_id
        self.site = self.info.site
        self.router = GunRouter.from_image(bytes(image), loaded.info)
        self.rules = WaybillRules(self.config["waybill_rules"])
        self.users = {u["login"]: u for u in self.config["gun_users"]}
        self.staff = {s["code"]: s for s in self.config["staff"]}
        self.sites = {s["code"]: s for s in self.config["sites"]}
        self.blocked = set(self.config["blocked_sites"])
        self._issue = sorted(((r["first"], r["last"], r["site"]) for r in self.config["issuance"]),
                             key=lambda r: (len(r[0]), r[0]))
        self._issue_keys = [(len(r[0]), r[0]) for r in self._issue]
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.user: dict | None = None
        self._failures: dict[str, int] = {}
        self.store = Path(store_dir) if store_dir else None
        self.records: list[dict] = []
        self.seq = 0
        if self.store:
            self.store.mkdir(parents=True, exist_ok=True)
            state = self.store / "scans.json"
            if state.exists():
                saved = json.loads(state.read_text())
                self.records, self.seq = saved["pending"], saved["seq"]

    # ------------------------------------------------------------ login

    def login(self, login: str, pin: str) -> dict:
        user = self.users.get(login)
        if user is None:
            raise LoginRefused(f"unknown login {login} at site {self.site}")
        if self._failures.get(login, 0) >= MAX_PIN_FAILURES:
            raise LoginRefused(f"login {login} locked after {MAX_PIN_FAILURES} wrong PINs")
        digest = hashlib.pbkdf2_hmac("sha256", str(pin).encode(), bytes.fromhex(user["pin_salt"]), PIN_ITERATIONS)
        if not hmac.compare_digest(digest.hex(), user["pin_hash"]):
            self._failures[login] = self._failures.get(login, 0) + 1
            left = MAX_PIN_FAILURES - self._failures[login]
            raise LoginRefused(f"wrong PIN for {login}" + (f" ({left} tries left)" if left else "; login locked"))
        self._failures.pop(login, None)
        self.user = user
        return user

    def logout(self) -> None:
        self.user = None

    # ------------------------------------------------------------ lookups

    def issuing_site(self, waybill: str) -> str | None:
        """The site the waybill number was issued to: ranges of equal-length numbers, found by
        binary search on (length, first number)."""
        i = bisect_right(self._issue_keys, (len(waybill), waybill)) - 1
        if i >= 0:
            first, last, site = self._issue[i]
            if len(first) == len(waybill) and first <= waybill <= last:
                return site
        return None

    def next_stop(self, dest: str | None, shift: str | None) -> str | None:
        return self.router.resolve(self.site, dest, shift)

    # ------------------------------------------------------------ scanning

    def scan(self, kind: str, waybill: str, *, shift: str | None = None, dest: str | None = None,
             next_site: str | None = None, prev_site: str | None = None, weight_g: int | None = None,
             courier: str | None = None, signer: str | None = None, sign_type: str | None = None,
             reason: str | None = None, bag: str | None = None, seal: str | None = None) -> dict:
        """Record one scan; returns the batch record or raises ``ScanRefused`` with the reason.

        Bags: ``bag_build`` / ``bag_open`` scan a parcel into / out of ``bag``; ``load`` / ``unload``
        scan the bag label itself (``waybill`` is the bag number) with the truck's ``seal``; a
        load finds its next stop like a dispatch.  Problem and hold scans need a ``reason`` code
        of the image's ``reasons`` section when it has one of that kind."""
        if self.user is None:
            raise ScanRefused("log in first")
        if kind not in self.user["kinds"]:
            raise ScanRefused(f"{self.user['login']} may not do {kind} scans "
                              f"(allowed: {', '.join(self.user['kinds']) or 'none'})")
        if kind in UNIT_KINDS:
            if not BAG_LABEL.fullmatch(waybill) or self.rules.validate(waybill) is None:
                raise ScanRefused(f"{waybill!r} is not a bag label")
            bag = waybill
        else:
            why = self.rules.validate(waybill)
            if why:
                raise ScanRefused(why)
        if kind in BAG_KINDS and not (bag and BAG_LABEL.fullmatch(bag)):
            raise ScanRefused(f"{kind} needs the bag label")
        if kind in ("problem", "hold"):
            reasons = {r["code"]: r for r in self.config.get("reasons", [])}
            if reason is not None and reasons and (reason not in reasons or kind not in reasons[reason]["kinds"]):
                raise ScanRefused(f"{reason} is not a {kind} reason code")
            if reason is None and any(kind in r["kinds"] for r in reasons.values()):
                raise ScanRefused(f"{kind} needs a reason code")
        if sign_type is not None and sign_type not in SIGN_TYPES:
            raise ScanRefused(f"unknown sign type {sign_type}")
        for name, code in (("destination", dest), ("next site", next_site), ("previous site", prev_site)):
            if code is not None and code not in self.sites:
                raise ScanRefused(f"unknown {name} {code}")
        if shift is not None and shift not in self.router.shift_index:
            raise ScanRefused(f"unknown shift {shift}")
        if courier is not None and courier not in self.staff:
            raise ScanRefused(f"courier {courier} is not staff of site {self.site}")
        if weight_g is not None and (not isinstance(weight_g, int) or weight_g <= 0):
            raise ScanRefused(f"weight must be positive whole grams, not {weight_g!r}")
        if kind in ("dispatch", "load") and next_site is None:
            if dest is None:
                raise ScanRefused(f"{kind} needs a next site or a destination")
            next_site = self.next_stop(dest, shift)
            if next_site is None:
                raise ScanRefused(f"no next stop from {self.site} to {dest}"
                                  + (f" on shift {shift}" if shift else ""))
        if kind == "arrive":
            origin = self.issuing_site(waybill)
            if origin in self.blocked:
                raise ScanRefused(f"parcel {waybill} belongs to blocked site {origin}: arrival refused "
                                  "until the site tops up its account")
        if kind == "deliver" and courier is None:
            raise ScanRefused("deliver needs the delivery courier")
        if kind == "sign" and not signer:
            raise ScanRefused("sign needs the signer's name")
        self.seq += 1
        record = {"gun": self.gun_id, "seq": self.seq, "kind": kind, "waybill": waybill,
                  "scanned_ms": self.clock_ms(), "operator": self.user["login"], "site": self.site,
                  "shift": shift, "dest": dest, "next_site": next_site, "prev_site": prev_site,
                  "weight_g": weight_g, "courier": courier, "signer": signer, "sign_type": sign_type,
                  "reason": reason, "bag": bag if kind in BAG_KINDS + UNIT_KINDS else None, "seal": seal}
        record = {k: v for k, v in record.items() if v is not None}
        self.records.append(record)
        self._save()
        return record

    # ------------------------------------------------------------ uploading

    def upload(self) -> bytes:
        """The batch upload of every pending record (the cradle sends these bytes)."""
        return encode_batch(self.gun_id, self.records, image_version=self.info.image_version)

    def confirm_upload(self, count: int) -> None:
        """The hub acknowledged the first ``count`` pending records: drop them."""
        del self.records[:count]
        self._save()

    def _save(self) -> None:
        if self.store:
            tmp = self.store / "scans.json.tmp"
            tmp.write_text(json.dumps({"seq": self.seq, "pending": self.records}))
            tmp.replace(self.store / "scans.json")
