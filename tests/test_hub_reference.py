"""A reference model of the hub's business rules in plain Python (dicts, lists, loops), the
hypothesis strategies that generate networks and scan histories, and store helpers.

The model is written from the rules in docs/hub-business.md, independently of hub/monitoring.py
and hub/fees.py; the other test_hub_* files check that the hub agrees with it exactly.
"""
from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import strategies as st


T0 = 1_717_200_000_000          # 2024-06-01 00:00 UTC
HOUR = 3_600_000
RANK = ["receive", "dispatch", "arrive", "problem", "hold", "deliver", "sign"]


def order(e):
    return (e["event_ms"], RANK.index(e["kind"]), e["id"])


# ---------------------------------------------------------------- networks

@st.composite
def networks(draw):
    """A network dict in the shape ``hub.network.check_network`` returns."""
    n_centers = draw(st.integers(1, 3))
    centers = [f"9{i}" for i in range(n_centers)]
    sites = []
    for i, c in enumerate(centers):
        sites.append({"code": c, "name": f"C{c}", "kind": "center", "center": None,
                      "province": str(30 + i), "city": f"{30 + i}01", "district": None})
    n_sites = draw(st.integers(2, 5))
    for j in range(n_sites):
        c = centers[j % n_centers]
        prov = sites[centers.index(c)]["province"]
        city = f"{prov}0{draw(st.integers(1, 2))}"
        sites.append({"code": f"1{j}", "name": f"S{j}", "kind": "site", "center": c,
                      "province": prov, "city": city, "district": f"{city}{j:02d}"})
    shifts = []
    for a in centers:
        for b in centers:
            if a != b and draw(st.booleans()):
                shifts.append({"code": f"{a}-{b}", "from": a, "to": b,
                               "depart": f"{draw(st.integers(0, 23)):02d}:{draw(st.sampled_from([0, 30])):02d}",
                               "transit_min": draw(st.integers(60, 600))})
    issuance = [{"site": s["code"], "first": f"8{s['code']}00000", "last": f"8{s['code']}99999"}
                for s in sites if s["kind"] == "site" and draw(st.booleans())]
    codes = [s["code"] for s in sites]
    rules = {}
    for _ in range(draw(st.integers(0, 6))):           # next-stop rules, some for one shift only
        site, dest, nxt = draw(st.sampled_from(codes)), draw(st.sampled_from(codes)), draw(st.sampled_from(codes))
        shift = draw(st.sampled_from([""] + [s["code"] for s in shifts if s["from"] == site]))
        if site != dest:
            rules[(site, dest, shift)] = nxt
    next_stops = [{"site": a, "dest": b, "shift": h, "next": n} for (a, b, h), n in sorted(rules.items())]
    return {"network": "gen", "waybill_rules": [], "sites": sites, "stations": [], "staff": [],
            "gun_users": [], "shifts": shifts, "next_stop": next_stops, "issuance": issuance}


def next_stop(net, site, dest, shift):
    """The next stop of a dispatch, from docs/network.md ("How a dispatch scan finds its next
    stop"), written without the hub's code: the table, then the shift, then the first hop of the
    shortest route (shifts one way, site <-> parent center both ways; ties by the lower code).
    A destination equal to the site skips the table and the route."""
    if dest == site:
        dest = None
    rules = {(r["site"], r["dest"], r.get("shift") or ""): r["next"] for r in net.get("next_stop", [])}
    if dest and shift and (site, dest, shift) in rules:
        return rules[(site, dest, shift)]
    if dest and (site, dest, "") in rules:
        return rules[(site, dest, "")]
    for s in net["shifts"]:
        if shift and s["code"] == shift and s["from"] == site:
            return s["to"]
    if not dest:
        return None
    edges = {(s["from"], s["to"]) for s in net["shifts"]}
    for s in net["sites"]:
        if s.get("center") and s["center"] != s["code"]:
            edges |= {(s["code"], s["center"]), (s["center"], s["code"])}
    # distances to dest, walking the edges backwards; then the lowest-coded neighbour one closer
    dist, frontier = {dest: 0}, [dest]
    while frontier:
        nxt = []
        for node in frontier:
            for a, b in edges:
                if b == node and a not in dist:
                    dist[a] = dist[node] + 1
                    nxt.append(a)
        frontier = nxt
    if site not in dist or site == dest:
        return None
    hops = sorted(b for a, b in edges if a == site and b != site and dist.get(b) == dist[site] - 1)
    return hops[0] if hops else None


def route(net, a, b):
    """Sites a parcel passes from site a to site b (a's center, maybe b's center, b)."""
    parent = {s["code"]: s["center"] for s in net["sites"]}
    path = [a, parent[a]]
    if parent[b] != parent[a]:
        path.append(parent[b])
    path.append(b)
    return path


@st.composite
def histories(draw, net, max_parcels=6):
    """Scans of a few parcels along their routes, with gaps, plus a few stray scans."""
    sites = [s["code"] for s in net["sites"] if s["kind"] == "site"]
    scans, n = [], 0

    def scan(kind, wb, site, t, **kw):
        nonlocal n
        n += 1
        d = {"id": f"x{n}", "station": f"st-{site}", "seq": n, "kind": kind, "waybill": wb, "site": site,
             "edge_ms": t, "event_ms": t, "clock": "trusted"}
        if draw(st.integers(0, 4)) == 0:        # a station without a real-time clock: only event_ms counts
            d["clock"] = draw(st.sampled_from(["corrected", "unknown"]))
            d["edge_ms"] = draw(st.sampled_from([0, 1_000, t - 400 * 24 * HOUR]))
        d.update({k: v for k, v in kw.items() if v is not None})
        scans.append(d)

    for p in range(draw(st.integers(1, max_parcels))):
        a, b = draw(st.sampled_from(sites)), draw(st.sampled_from(sites))
        wb = f"8{a}{p:05d}" if draw(st.booleans()) else f"W{p:04d}"
        t = T0 + draw(st.integers(0, 48)) * HOUR
        keep = lambda: draw(st.integers(0, 5)) > 0    # noqa: E731  ~1 in 6 scans goes missing
        extra = {}
        if draw(st.booleans()):
            extra["cod_cents"] = draw(st.integers(1, 50_000))
        if draw(st.integers(0, 3)) == 0:
            extra["freight_collect_cents"] = draw(st.integers(1, 5_000))
        if draw(st.integers(0, 3)) == 0:
            extra["dims_cm"] = [draw(st.integers(1, 60)) for _ in range(3)]
        if keep():
            scan("receive", wb, a, t, courier=f"k{a}", weight_g=draw(st.one_of(st.none(), st.integers(1, 20_000))),
                 dest_site=b if draw(st.booleans()) else None, extra=extra or None)
        path = route(net, a, b) if a != b else [a]
        for i in range(len(path) - 1):
            here, nxt = path[i], path[i + 1]
            t += draw(st.integers(0, 3)) * HOUR
            if i > 0 and keep():
                scan("arrive", wb, here, t, weight_g=draw(st.one_of(st.none(), st.integers(1, 30_000))))
            t += draw(st.integers(0, 5)) * HOUR
            if keep():
                explicit = draw(st.booleans())
                shift = draw(st.sampled_from([None] + [s["code"] for s in net["shifts"] if s["from"] == here]))
                scan("dispatch", wb, here, t, next_site=nxt if explicit else None, dest_site=b, shift=shift)
            t += draw(st.integers(1, 12)) * HOUR
            if draw(st.integers(0, 4)) == 0:
                break          # still on the road
        else:
            if a != b and keep():
                scan("arrive", wb, b, t)
            t += draw(st.integers(0, 6)) * HOUR
            if draw(st.booleans()):
                scan("deliver", wb, b, t, courier=f"d{b}")
                t += draw(st.sampled_from([0, 1, 5, 30])) * HOUR     # ties at the same instant too
                if draw(st.booleans()):
                    scan("sign", wb, b, t, signer="R")
        if draw(st.integers(0, 5)) == 0:
            scan("problem", wb, draw(st.sampled_from(sites)), t + HOUR)
    # stray scans (a sign without a delivery, a dispatch from a site that never received it …)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["receive", "dispatch", "arrive", "deliver", "sign"]))
        site = draw(st.sampled_from([s["code"] for s in net["sites"]]))
        wb = draw(st.sampled_from([s["waybill"] for s in scans] or ["W9999"]))
        t = T0 + draw(st.integers(0, 120)) * HOUR
        if kind == "dispatch":
            scan(kind, wb, site, t, dest_site=draw(st.sampled_from(sites)))
        else:
            scan(kind, wb, site, t)
    return scans


def deletions_for(scans, draw_bools):
    """Deletion records for some scans (the ones flagged), shaped like the edge sends them."""
    out = []
    for s, flag in zip(scans, draw_bools):
        if flag:
            out.append({"id": "del-" + s["id"], "scan": dict(s, id="del-" + s["id"], seq=s["seq"] + 100_000),
                        "reason": "wrong parcel", "deleted_ms": s["event_ms"] + 60_000,
                        "uploaded": s["seq"] % 2 == 0})
    return out


# ---------------------------------------------------------------- the model

class Model:
    """The business rules over plain dicts."""

    def __init__(self, net, scans, deletions=(), tz_min=480, default_transit_min=360):
        self.net = net
        self.centers = {s["code"] for s in net["sites"] if s["kind"] == "center"}
        self.region = {s["code"]: (s["province"], s["city"], s["district"]) for s in net["sites"]}
        self.tz = dt.timezone(dt.timedelta(minutes=tz_min))
        self.default_transit_min = default_transit_min
        uniq = {}
        for s in scans:
            uniq.setdefault(s["id"], s)
        self.scans = sorted(uniq.values(), key=order)
        self.deletions = {d["id"]: d for d in deletions}
        self.by_wb: dict[str, list] = {}
        for s in self.scans:
            self.by_wb.setdefault(s["waybill"], []).append(dict(s))
        for evs in self.by_wb.values():
            self._resolve(evs)

    # -- helpers
    def dest(self, evs):
        d = None
        for e in evs:                        # evs are in order: the last one naming a destination wins
            if e.get("dest_site"):
                d = e["dest_site"]
        if d:
            return d
        for kind in ("deliver", "sign"):
            xs = [e for e in evs if e["kind"] == kind]
            if xs:
                return xs[-1]["site"]
        return None

    def _resolve(self, evs):
        dest = self.dest(evs)
        for e in evs:
            if e["kind"] == "dispatch" and not e.get("next_site"):
                e["next_site"] = next_stop(self.net, e["site"], e.get("dest_site") or dest, e.get("shift"))

    def issued_to(self, wb):
        for r in self.net["issuance"]:
            if len(r["first"]) == len(wb) and r["first"] <= wb <= r["last"]:
                return r["site"]
        return None

    def prev_stop(self, evs, a):
        ds = [e for e in evs if e["kind"] == "dispatch" and e.get("next_site") == a["site"]
              and e["site"] != a["site"] and e["event_ms"] <= a["event_ms"]]
        if ds:
            return ds[-1]["site"], "dispatch"
        iss = self.issued_to(a["waybill"])
        if iss and iss != a["site"]:
            return iss, "issuance"
        others = [e for e in evs if e["site"] != a["site"]]
        if others:
            return others[0]["site"], "earliest"
        return None, None

    def departure(self, t, hhmm):
        local = dt.datetime.fromtimestamp(t / 1000, self.tz)
        h, m_ = map(int, hhmm.split(":"))
        d = local.replace(hour=h, minute=m_, second=0, microsecond=0)
        if d < local:
            d += dt.timedelta(days=1)
        return int(d.timestamp() * 1000)

    def expected(self, e):
        shifts = {s["code"]: s for s in self.net["shifts"]}
        s = shifts.get(e.get("shift"))
        if s and s["from"] == e["site"]:
            return self.departure(e["event_ms"], s["depart"]) + s["transit_min"] * 60_000
        runs = [s for s in self.net["shifts"] if s["from"] == e["site"] and s["to"] == e.get("next_site")]
        if runs:
            return min(self.departure(e["event_ms"], s["depart"]) + s["transit_min"] * 60_000 for s in runs)
        return e["event_ms"] + self.default_transit_min * 60_000

    def events(self):
        for evs in self.by_wb.values():
            for e in evs:
                yield evs, e

    @staticmethod
    def inside(t, since, until):
        return (since is None or t >= since) and (until is None or t < until)

    # -- the eight reports, as sorted tuples
    def report(self, name, site, since=None, until=None, as_of=None, grace_min=120):
        rows = []
        if name == "deleted-unuploaded":
            for d in self.deletions.values():
                if not d["uploaded"] and d["scan"]["site"] == site and self.inside(d["deleted_ms"], since, until):
                    rows.append((d["scan"]["waybill"], d["deleted_ms"]))
        for evs, e in self.events():
            t, k = e["event_ms"], e["kind"]
            later = [x for x in evs if x["event_ms"] >= t]
            if name in ("not-arrived", "expected-arrivals") and k == "dispatch" and e.get("next_site") == site:
                arrived = any(x["kind"] == "arrive" and x["site"] == site for x in later)
                when = t if name == "not-arrived" else self.expected(e)
                if not arrived and self.inside(when, since, until):
                    rows.append((e["waybill"], t, e["site"]))
            if e["site"] != site or not self.inside(t, since, until):
                continue
            if name == "delivered-unsigned":
                if k == "deliver" and not any(x["kind"] == "sign" for x in later):
                    rows.append((e["waybill"], t, "unsigned"))
                if k == "sign" and not any(x["kind"] == "deliver" and x["event_ms"] <= t for x in evs):
                    rows.append((e["waybill"], t, "signed-without-delivery"))
            elif name == "arrived-not-dispatched" and k == "arrive":
                if not any(x["kind"] in ("dispatch", "deliver", "sign") and x["site"] == site for x in later):
                    rows.append((e["waybill"], t, self.prev_stop(evs, e)[0]))
            elif name == "dispatched-not-arrived" and k == "dispatch":
                nxt = e.get("next_site")
                arrived = any(x["kind"] == "arrive" and (x["site"] == nxt if nxt else x["site"] != site) for x in later)
                if not arrived and self.expected(e) + grace_min * 60_000 <= as_of:
                    rows.append((e["waybill"], t, nxt))
            elif name == "received-not-dispatched":
                if k == "receive" and not any(x["kind"] in ("dispatch", "deliver", "sign") and x["site"] == site
                                              for x in later):
                    rows.append((e["waybill"], t, "received-not-dispatched"))
                if k == "dispatch" and not any(x["kind"] in ("receive", "arrive") and x["site"] == site
                                               and x["event_ms"] <= t for x in evs):
                    rows.append((e["waybill"], t, "dispatched-not-received"))
            elif name == "prev-not-dispatched" and k == "arrive":
                prev, src = self.prev_stop(evs, e)
                if src != "dispatch":
                    rows.append((e["waybill"], t, prev))
        return sorted(rows, key=repr)

    def held(self, site):
        out = []
        for wb, evs in self.by_wb.items():
            moves = [e for e in evs if e["kind"] in ("receive", "dispatch", "arrive", "deliver", "sign")]
            if moves and moves[-1]["kind"] in ("receive", "arrive") and moves[-1]["site"] == site:
                out.append(wb)
        return sorted(out)


def hub_rows(name, rows):
    """The hub's report rows as the model's tuples."""
    out = []
    for r in rows:
        if name == "deleted-unuploaded":
            out.append((r["waybill"], r["deleted_ms"]))
        elif name in ("not-arrived", "expected-arrivals"):
            out.append((r["waybill"], r["dispatch_ms"], r["from_site"]))
        elif name in ("delivered-unsigned", "received-not-dispatched"):
            out.append((r["waybill"], r["at_ms"], r["problem"]))
        elif name in ("arrived-not-dispatched", "prev-not-dispatched"):
            out.append((r["waybill"], r["arrive_ms"], r["prev_site"]))
        elif name == "dispatched-not-arrived":
            out.append((r["waybill"], r["dispatch_ms"], r["next_site"]))
    return sorted(out, key=repr)


# ---------------------------------------------------------------- store helpers

def fresh_store(path):
    """A new SQLite hub store at ``path`` (tables created)."""
    from hub import schema as db
    if os.path.exists(path):
        os.remove(path)
    return db.connect(path, create=True)


def wipe(tables=None):
    """Empty every table (between hypothesis examples sharing one store); the store keeps its
    schema version."""
    from hub.store.versions import stamp
    for t in reversed(tables or list(__import__('hub.schema', fromlist=['TABLES']).TABLES)):
        t.delete().execute()
    stamp()


def load_net(net):
    from hub.network import basic_data
    from hub.network.file import check_network
    wipe()
    basic_data.import_network(check_network(net))


def test_model_sanity():
    net = {"sites": [{"code": "90", "kind": "center", "center": None, "province": "30", "city": "3001", "district": None},
                     {"code": "10", "kind": "site", "center": "90", "province": "30", "city": "3001", "district": "x"},
                     {"code": "11", "kind": "site", "center": "90", "province": "30", "city": "3001", "district": "y"}],
           "shifts": [], "next_stop": [], "issuance": []}
    s = [{"id": "a", "kind": "receive", "waybill": "W", "site": "10", "event_ms": T0},
         {"id": "b", "kind": "dispatch", "waybill": "W", "site": "10", "event_ms": T0 + 1, "dest_site": "11"}]
    model = Model(net, s + s)
    assert model.report("not-arrived", "90") == [("W", T0 + 1, "10")]
    assert model.report("received-not-dispatched", "10") == []
    assert model.held("10") == []


@pytest.fixture
def store(tmp_path):
    fresh_store(str(tmp_path / "hub.db"))
    yield
