"""Waybill entry at the station (录单): a waybill record into the outbox, offline like a scan.

``Entry.enter(waybill, fields)`` checks what the station can check without the hub — the
network's waybill rules, that the number was not issued to another site (the issuance records of
the configuration slice), a known destination, the record schema (``contract.waybill_record``,
the hub's own check) — stores the record durably in the outbox and only then answers
``accepted``.  The uplink sends it with the next batch; it leaves the outbox only when the hub's
ack names it (docs/protocol.md, "Waybill records").

Quick entry (快速录单) is one line, at the speed of a gun: the number (scanned), the destination
and the weight in kg; the rest can follow in a later record for the same number::

    7000000000016 200 2.3
    7000000000016 200 2.3 40x30x20 cod=500 collect=12 declared=800 insured +upstairs
    7000000000016 receiver_name=张三 receiver_phone=13800000000 receiver_address=上海市浦东新区世纪大道100号

``parse_quick`` reads it; in ``scanhub edge run --stdin`` such a line starts with ``+``, and a
line ``-NUMBER REASON`` marks a parcel returned unpaid (``returned``; docs/station.md, "Waybill
entry").

With a gun, the entry mode is quicker still: scan ``%E<dest>`` (the destination site), then each
waybill number scanned on that gun is entered with that destination and the scale's stable
weight; ``%E`` alone, or any kind code (``%K…``), ends the mode.
"""
from __future__ import annotations

import uuid

from contract.errors import PayloadError
from contract.waybill_record import FIELDS as RECORD_FIELDS, parse_dims, parse_money, parse_weight, validate_record
from edge.capture import Verdict
from edge.outbox import OutboxError

QUICK_HELP = ("NUMBER DEST KG [LxWxH] [cod=YUAN] [collect=YUAN] [declared=YUAN] [insured] [+SURCHARGE] "
              "[pieces=N] [receiver_name=… receiver_phone=… …], e.g. 7000000000016 200 2.3 40x30x20 cod=500; "
              "later: NUMBER sender_phone=13800000000")
MONEY_WORDS = {"cod": "cod_cents", "collect": "freight_collect_cents", "declared": "declared_cents"}
#: The record's text fields a quick line may set as ``name=value`` (one word each: no spaces).
TEXT_WORDS = tuple(f.name for f in RECORD_FIELDS if f.type == "text" and f.name not in ("dest_site", "payment"))


def parse_quick(text: str) -> tuple[str, dict]:
    """``(waybill, fields)`` of a quick-entry line (module docstring); ``PayloadError`` with
    the expected shape for anything else.  A line whose second word is ``name=value`` is a
    follow-up for a number entered before: only the fields it names."""
    words = text.split()
    if len(words) >= 2 and "=" in words[1]:
        waybill, *rest = words
        fields: dict = {}
    elif len(words) < 3:
        raise PayloadError(f"quick entry needs at least a number, a destination and a weight: {QUICK_HELP}")
    else:
        waybill, dest, weight, *rest = words
        fields = {"dest_site": dest, "weight_g": parse_weight(weight)}
    for w in rest:
        key, eq, value = w.partition("=")
        if eq and key.lower() in TEXT_WORDS:
            if not value:
                raise PayloadError(f"{key}= needs a value (no spaces), e.g. receiver_name=张三")
            fields[key.lower()] = value
        elif eq and key.lower() in MONEY_WORDS:
            fields[MONEY_WORDS[key.lower()]] = parse_money(value, key.lower())
            if key.lower() == "collect":
                fields["payment"] = "collect"
        elif eq and key.lower() == "pieces":
            if not value.isdigit() or not 0 < int(value) <= 9999:
                raise PayloadError(f"pieces {value!r}: a whole number from 1 to 9999")
            fields["pieces"] = int(value)
        elif w.lower() == "insured":
            fields["insured"] = True
        elif w.startswith("+") and len(w) > 1:
            fields.setdefault("surcharges", []).append(w[1:])
        elif eq:
            raise PayloadError(f"quick entry: {key}= is not understood (the fields: {', '.join(TEXT_WORDS)}, "
                               f"cod, collect, declared, pieces); {QUICK_HELP}")
        elif "x" in w.lower() or "*" in w:
            fields["dims_cm"] = parse_dims(w)
        else:
            raise PayloadError(f"quick entry: {w!r} is not understood; {QUICK_HELP}")
    return waybill, fields


class Entry:
    """Waybill entry for one station (see the module docstring); ``capture`` gives the
    configuration view, the outbox and the clock it shares with scanning."""

    def __init__(self, capture, wake=lambda: None):
        self.capture = capture
        self.wake = wake
        self.modes: dict[str, str] = {}          # device -> destination while in entry mode
        capture.entry_hook = self.on_read

    def on_read(self, text: str, device: str, weight_g: int | None = None) -> Verdict | None:
        """A gun's read, seen before scanning: ``%E`` codes start and end the entry mode, and a
        number read in the mode is entered.  None: an ordinary read, for ``Capture.scan``."""
        text = text.strip() if isinstance(text, str) else text
        if not isinstance(text, str):
            return None
        if text[:2].upper() == "%E":
            dest = text[2:].strip()
            if not dest:
                self.modes.pop(device, None)
                return Verdict("control", "waybill entry ended")
            sites = self.capture.view.sites
            if sites and dest not in sites:
                return Verdict("refused", f"unknown site code {dest}")
            self.modes[device] = dest
            return Verdict("control", f"waybill entry to {dest}: scan each waybill on the scale")
        if device not in self.modes:
            return None
        if text[:2].upper() == "%K":
            self.modes.pop(device, None)          # back to scanning
            return None
        if text.startswith("%"):
            return None
        if weight_g is None and self.capture.weight_source is not None:
            try:
                weight_g = self.capture.weight_source()
            except Exception as e:                # the scale's own words (NoWeight)
                return Verdict("refused", str(e) or "no weight from the scale")
        if not weight_g:
            return Verdict("refused", "no stable weight: put the parcel on the scale, or type +NUMBER DEST KG")
        return self.enter(text, {"dest_site": self.modes[device], "weight_g": int(weight_g)},
                          self.capture.context(device).operator)

    def refusal(self, waybill: str, fields: dict) -> str | None:
        """Why this station refuses the entry offline, or None."""
        view, site = self.capture.view, self.capture.site
        why = view.rules.refusal(waybill)
        if why:
            return why
        owner = view.origin_of(waybill)
        if owner is not None and owner != site:
            return f"waybill {waybill} was issued to site {owner}, not to {site}"
        dest = fields.get("dest_site")
        if dest and view.sites and dest not in view.sites:
            return f"unknown destination site {dest}"
        return None

    def enter(self, waybill: str, fields: dict, operator: str | None = None) -> Verdict:
        """Store one waybill record (an entry, or a correction of an earlier one)."""
        waybill = waybill.strip()
        now = self.capture.clock.wall()
        rec = {"id": uuid.uuid4().hex, "waybill": waybill, "site": self.capture.site,
               "station": self.capture.station, "edge_ms": now, "fields": fields}
        op = operator or self.capture.context().operator
        if op:
            rec["operator"] = op
        try:
            validate_record(rec, stamped=False)
        except PayloadError as e:
            return Verdict("refused", str(e))
        why = self.refusal(waybill, fields)
        if why:
            return Verdict("refused", why)
        try:
            self.capture.outbox.add_waybill(rec, now, self.capture.clock.mono(), self.capture.clock.boot)
        except OutboxError as e:
            return Verdict("refused", str(e))
        self.wake()
        shown = {"kind": "waybill", "waybill": waybill, **{k: v for k, v in fields.items()
                                                          if k in ("weight_g", "dest_site")}}
        return Verdict("accepted", scan=shown)

    def returned(self, waybill: str, reason: str, operator: str | None = None, code: str | None = None) -> Verdict:
        """Mark a parcel returned unpaid (退货): a problem scan carrying ``extra.return`` and the
        reason.  The hub then books no freight collect nor COD for it and charges its origin the
        tariff's return (docs/hub-business.md, "Returns").  ``code``: the problem reason code of
        the network file (required when it lists some); without it, a reason whose first word is
        such a code gives it ("A02 refused by the receiver")."""
        reason = (reason or "").strip()
        if not reason:
            return Verdict("refused", "a return needs a reason (refused by the receiver, nobody home ...)")
        if code is None:
            first = reason.split(" ", 1)[0]
            if first in self.capture.view.reasons:
                code = first
        return self.capture.scan(waybill.strip(), device="entry", kind="problem",
                                 operator=operator or self.capture.context().operator, reason=code,
                                 extra={"return": True, "reason": reason[:200]})

    def quick(self, text: str, operator: str | None = None) -> Verdict:
        """One quick-entry line (``parse_quick``)."""
        try:
            waybill, fields = parse_quick(text)
        except PayloadError as e:
            return Verdict("refused", str(e))
        return self.enter(waybill, fields, operator)
