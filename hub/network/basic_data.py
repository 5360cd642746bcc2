"""Writing the network file into the store, and reading basic data back as plain dicts."""
from __future__ import annotations

import hashlib
import json
import time

from hub.network import tables as m
from hub.store.db import database, write_transaction
from hub.store.meta import set_meta

BASIC_TABLES = m.TABLES


def _chunks(rows, n=500):
    for i in range(0, len(rows), n):
        yield rows[i:i + n]


def import_network(net: dict) -> dict:
    """Replace basic data with ``net`` (from ``hub.network.file.load_network``) in one transaction.

    Station status columns survive a re-import.  Returns counts per section.  The data version
    (``Meta['data_version']``) is a hash of the imported content, so re-importing the same file
    changes nothing that edges see.
    """
    # the write lock at once: a running hub writes all the time, and a transaction that read
    # first could not take it later ("database is locked")
    with write_transaction():
        status = {s.id: s for s in m.Station.select()}
        blocked = {s.code for s in m.Site.select().where(m.Site.blocked == True)}  # noqa: E712
        for t in BASIC_TABLES:
            t.delete().execute()
        _insert(m.Site, [dict(s, blocked=s["code"] in blocked) for s in net["sites"]])
        stations = []
        for st in net["stations"]:
            row = {"id": st["id"], "site": st["site"], "name": st.get("name")}
            old = status.get(st["id"])
            if old is not None:
                for col in ("online", "last_seen_ms", "outbox_depth", "last_ack_ms", "config_version",
                            "clock_offset_ms", "clock_rtt_ms", "status_json"):
                    row[col] = getattr(old, col)
            stations.append(row)
        # stations that announced themselves but are not in the file keep their rows
        for sid, old in status.items():
            if sid not in {s["id"] for s in net["stations"]}:
                stations.append({k: getattr(old, k) for k in old.__data__})
        _insert(m.Station, stations)
        _insert(m.Staff, net["staff"])
        _insert(m.GunUser, [dict(u, kinds=",".join(u["kinds"])) for u in net["gun_users"]])
        _insert(m.Shift, [{"code": s["code"], "from_site": s["from"], "to_site": s["to"],
                           "depart": s["depart"], "transit_min": s["transit_min"]} for s in net["shifts"]])
        _insert(m.NextStopRule, [{"site": r["site"], "dest": r["dest"], "shift": r["shift"],
                                  "next_site": r["next"]} for r in net["next_stop"]])
        _insert(m.WaybillRuleRow, [{"name": r["name"], "rule_json": json.dumps(r, sort_keys=True)}
                                   for r in net["waybill_rules"]])
        _insert(m.Issuance, net["issuance"])
        _insert(m.ReasonCode, [{"code": r["code"], "name": r["name"], "kinds": ",".join(r["kinds"])}
                               for r in net.get("reasons", [])])
        set_meta("network", net["network"])
        set_meta("tz_offset_min", str(net.get("tz_offset_min", 480)))
        bump_data_version()
    return {k: len(v) for k, v in net.items() if isinstance(v, list)}


def _insert(model, rows):
    for chunk in _chunks(rows):
        model.insert_many(chunk).execute()


def bump_data_version() -> str:
    """Recompute the data version: a short hash over all basic data (cheap enough at import)."""
    h = hashlib.sha256()
    for t in BASIC_TABLES:
        if t is m.Station:
            rows = t.select(t.id, t.site).order_by(t.id).tuples()
        else:
            rows = t.select().order_by(*t._meta.get_primary_keys()).tuples()
        for row in rows:
            h.update(repr(row).encode())
    version = h.hexdigest()[:16]
    set_meta("data_version", version)
    set_meta("data_version_ms", str(int(time.time() * 1000)))
    return version


def sites() -> list[dict]:
    return [{"code": s.code, "name": s.name, "kind": s.kind, "center": s.center,
             "province": s.province, "city": s.city, "district": s.district, "area_code": s.area_code,
             "blocked": s.blocked}
            for s in m.Site.select().order_by(m.Site.code)]


def shifts() -> list[dict]:
    return [{"code": s.code, "from": s.from_site, "to": s.to_site, "depart": s.depart,
             "transit_min": s.transit_min} for s in m.Shift.select().order_by(m.Shift.code)]


def reasons() -> list[dict]:
    """The reason codes of problem and hold scans: ``[{"code", "name", "kinds": [...]}]``."""
    return [{"code": r.code, "name": r.name, "kinds": r.kinds.split(",")}
            for r in m.ReasonCode.select().order_by(m.ReasonCode.code)]


def waybill_rules() -> list[dict]:
    return [json.loads(r.rule_json) for r in m.WaybillRuleRow.select().order_by(m.WaybillRuleRow.name)]
