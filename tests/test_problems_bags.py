"""Problem and hold scans with reason codes and resolutions; bags with piece inference and the bag
diffs (docs/hub-business.md, "Problem parcels" and "Bags")."""
from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from conftest import sample_store, wb
from contract.scan import validate_scan
from contract.errors import PayloadError
from hub.business import bags

T0 = 1_717_200_000_000          # 2024-06-01 00:00 UTC
H = 3_600_000
_seq = itertools.count(1)


def run(*args):
    return CliRunner().invoke(cli.main, list(args))


def scan(kind, waybill, site, t, **kw) -> dict:
    n = next(_seq)
    return {"id": f"s{n}", "station": f"st-{site}", "epoch": "e1", "seq": n, "kind": kind, "waybill": waybill,
            "site": site, "edge_ms": t, "event_ms": t, "operator": {"100": "1002", "900": "9001"}.get(site, "2002"),
            **kw}


def commit(*scans):
    from hub.ingest import pipeline
    committed, rejected = pipeline.commit(list(scans))
    assert rejected == []


@pytest.fixture
def store(store_url):
    sample_store(store_url)
    return store_url


# ---------------------------------------------------------------- the contract

def test_bag_scans_need_their_bag_and_a_unit_scan_is_its_bag():
    base = scan("bag_build", wb(1), "100", T0)
    with pytest.raises(PayloadError, match="bag_build scan without bag"):
        validate_scan(base)
    assert validate_scan(dict(base, bag="B0001"))["bag"] == "B0001"
    with pytest.raises(PayloadError, match="names another waybill"):
        validate_scan(scan("load", wb(1), "100", T0, bag="B0001", next_site="900"))
    assert validate_scan(scan("load", "B0001", "100", T0, bag="B0001", seal="S-77"))["seal"] == "S-77"
    # a station on the old software sends a problem scan without a reason: still accepted
    assert validate_scan(scan("problem", wb(1), "100", T0))["reason"] is None


# ---------------------------------------------------------------- the station

@pytest.fixture
def slices(hub_store):
    from hub.network.station_config import site_slice
    from hub.schema import connect
    from hub.store.db import database
    connect(hub_store)
    out = {s: site_slice(s) for s in ("100", "900", "200")}
    database.close()
    return out


def capture(tmp_path, cfg, site):
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    meta = {}
    clock = StationClock(lambda k, d=None: meta.get(k, d), meta.__setitem__, boot="b1")
    return Capture(f"st-{site}", site, Outbox(str(tmp_path / f"{site}.db")), clock, cfg)


def test_station_problem_scans_take_a_reason_code_of_their_kind(tmp_path, slices):
    assert [r["code"] for r in slices["200"]["reasons"]][:2] == ["A01", "A02"]
    c = capture(tmp_path, slices["200"], "200")
    c.scan("%KPROBLEM"), c.scan("%P2002")
    v = c.scan(wb(1, 2))
    assert v.outcome == "refused" and "reason code first (%R code)" in v.reason
    assert c.scan("%RZZ9").reason == "unknown reason code ZZ9"
    assert c.scan("%RH01").outcome == "control"
    assert "is not a problem reason" in c.scan(wb(1, 2)).reason
    assert str(c.scan("%RA01")) == "control: reason A01 (address wrong)"
    v = c.scan(wb(1, 2))
    assert v.accepted and v.scan["reason"] == "A01"
    c.scan("%KHOLD")                   # a new kind clears the reason
    assert "reason code first" in c.scan(wb(2, 2)).reason
    c.scan("%RH01")
    assert c.scan(wb(2, 2)).scan["reason"] == "H01"


def test_station_bags_load_and_unload(tmp_path, slices):
    c = capture(tmp_path, slices["100"], "100")
    c.scan("%KBAG_BUILD"), c.scan("%P1002")
    assert "bag label first" in c.scan(wb(1)).reason
    assert "not a bag label" in c.scan("%Bno").reason
    c.scan("%BB100-0001")
    built = [c.scan(wb(n)) for n in (1, 2, 3)]
    assert all(v.accepted and v.scan["bag"] == "B100-0001" for v in built)
    c.scan("%KLOAD")
    assert "not a bag label" in c.scan("b1").reason
    assert "not a bag label" in c.scan(wb(1)).reason
    assert "no next stop for the load" in c.scan("B100-0001").reason
    c.scan("%D200"), c.scan("%LSEAL-42")
    v = c.scan("B100-0001")
    assert v.accepted and v.scan["next_site"] == "900" and v.scan["seal"] == "SEAL-42"
    assert v.scan["waybill"] == v.scan["bag"] == "B100-0001"
    assert c.scan("%K8").reason == "kind bag_build" and c.scan("%K11").reason == "kind unload"


def test_station_sign_type(tmp_path, slices):
    c = capture(tmp_path, slices["200"], "200")
    c.scan("%KSIGN"), c.scan("%P2001"), c.scan("%GZhang San")
    assert "unknown sign type" in c.scan("%Tdoormat").reason
    assert c.scan("%TGUARD_ROOM").outcome == "control"
    assert c.scan(wb(5, 2)).scan["sign_type"] == "guard_room"


# ---------------------------------------------------------------- problems at the hub

def test_open_problems_their_age_and_a_resolution_visible_everywhere(store):
    a, b = wb(11), wb(12)
    commit(scan("receive", a, "100", T0), scan("problem", a, "200", T0 + H, reason="A01"),
           scan("hold", b, "900", T0 + 2 * H, reason="H01"), scan("problem", wb(13), "200", T0, reason="A04"))
    r = run("problems", "open", "--db", store, "--as-of", str(T0 + 5 * H), "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(x["waybill"], x["site"], x["reason_name"], x["age_h"]) for x in rows] == [
        (wb(13), "200", "addressee absent", 5.0), (a, "200", "address wrong", 4.0), (b, "900", "held for customs", 3.0)]
    summary = json.loads(run("problems", "open", "--summary", "--as-of", str(T0 + 5 * H), "--json", "--db", store).output)
    assert [(s["site"], s["open"], s["problem"], s["hold"], s["oldest_age_h"]) for s in summary] == [
        ("200", 2, 2, 0, 5.0), ("900", 1, 0, 1, 3.0)]

    r = run("problems", "resolve", a, "--by", "2001", "--how", "called the addressee: new address", "--action",
            "readdressed", "--at", str(T0 + 3 * H), "--db", store)
    assert r.exit_code == 0 and "resolved 1 problem scan(s)" in r.output
    again = run("problems", "resolve", a, "--by", "2001", "--how", "x", "--db", store)
    assert again.exit_code == 1 and f"{a} has no open problem" in again.output and "Traceback" not in again.output
    assert "unknown staff code" in run("problems", "resolve", b, "--by", "nobody", "--how", "x", "--db", store).output
    assert "unknown action" in run("problems", "resolve", b, "--by", "9001", "--how", "x", "--action", "lost",
                                   "--db", store).output
    assert "before the problem scan" in run("problems", "resolve", b, "--by", "9001", "--how", "x", "--at",
                                            str(T0), "--db", store).output

    open_now = json.loads(run("problems", "open", "--json", "--db", store).output)
    assert a not in [x["waybill"] for x in open_now]
    hist = json.loads(run("problems", "history", a, "--json", "--db", store).output)
    assert hist[0]["handled_by"] == "2001" and hist[0]["action"] == "readdressed" and hist[0]["age_h"] == 2.0
    t = json.loads(run("track", a, "--json", "--db", store).output)
    prob = [e for e in t["events"] if e["kind"] == "problem"][0]
    assert prob["reason"] == "A01" and prob["reason_name"] == "address wrong"
    assert prob["resolution"]["how"] == "called the addressee: new address"
    assert "resolved: readdressed by 2001" in run("track", a, "--db", store).output
    assert "A01" in run("problems", "reasons", "--db", store).output


# ---------------------------------------------------------------- bags

def bag_trip(parcels, bag="B900-0001", t=T0, missing=(), extra=()):
    out = [scan("bag_build", p, "100", t + i, bag=bag) for i, p in enumerate(parcels)]
    out.append(scan("load", bag, "100", t + H, bag=bag, next_site="900", seal="S1"))
    out.append(scan("unload", bag, "900", t + 5 * H, bag=bag, prev_site="100", seal="S1"))
    out += [scan("bag_open", p, "900", t + 6 * H + i, bag=bag) for i, p in enumerate(parcels + list(extra))
            if p not in missing]
    return out


def test_a_parcel_in_a_bag_gets_the_bags_dispatch_and_arrival(store):
    ps = [wb(n) for n in (21, 22, 23)]
    commit(*[scan("receive", p, "100", T0 - H) for p in ps], *bag_trip(ps, missing=[ps[2]], extra=[wb(24)]))
    t = json.loads(run("track", ps[0], "--json", "--db", store).output)
    kinds = [(e["kind"], e["site"], bool(e.get("inferred_from"))) for e in t["events"]]
    assert kinds == [("receive", "100", False), ("bag_build", "100", False), ("dispatch", "100", True),
                     ("arrive", "900", True), ("bag_open", "900", False)]
    disp = t["events"][2]
    assert disp["next_site"] == "900" and disp["bag"] == "B900-0001" and disp["seal"] == "S1"
    assert "(from bag)" in run("track", ps[0], "--db", store).output

    def rep(name, site):
        r = run("monitor", name, "--site", site, "--json", "--db", store)
        assert r.exit_code == 0, r.output
        return json.loads(r.output)
    assert [r["waybill"] for r in rep("bag-missing-at-opening", "900")] == [ps[2]]
    assert [r["waybill"] for r in rep("bag-not-built-in", "900")] == [wb(24)]
    assert rep("bags-not-opened", "100") == []
    commit(scan("bag_build", wb(25), "100", T0 + 10 * H, bag="B100-0009"))
    left = rep("bags-not-opened", "100")
    assert [(r["bag"], r["parcels"]) for r in left] == [("B100-0009", 1)]


def test_a_reused_bag_label_starts_a_new_cycle():
    a, b = wb(31), wb(32)
    first = bag_trip([a], bag="B1")
    second = bag_trip([b], bag="B1", t=T0 + 24 * H)
    evs = {"B1": first + second}
    assert [e["event_ms"] for e in bags.inferred(a, evs)] == [T0 + H, T0 + 5 * H]
    assert [e["event_ms"] for e in bags.inferred(b, evs)] == [T0 + 25 * H, T0 + 29 * H]
    assert bags.diffs(evs) == {k: [] for k in bags.BAG_REPORTS}


@st.composite
def bag_histories(draw):
    """A few bags with a few parcels each over one or two cycles, with opens that miss or add."""
    events = {}
    pool = [wb(n) for n in range(40, 48)]
    for b in range(draw(st.integers(1, 3))):
        bag = f"B{b:04d}"
        evs = []
        for c in range(draw(st.integers(1, 2))):
            t = T0 + c * 24 * H
            ps = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
            # at least one parcel is found at opening (a bag with no open scan is still closed)
            missing = draw(st.lists(st.sampled_from(ps), max_size=min(2, len(ps) - 1), unique=True))
            extra = draw(st.lists(st.sampled_from(pool), max_size=2, unique=True))
            trip = bag_trip(ps, bag=bag, t=t, missing=missing, extra=[p for p in extra if p not in ps])
            if draw(st.booleans()):           # never opened (only in the last cycle)
                trip = [e for e in trip if e["kind"] != "bag_open"]
                evs += trip
                break
            evs += trip
        events[bag] = evs
    return events


@settings(max_examples=150, deadline=None)
@given(data=st.data(), events=bag_histories())
def test_piece_inference_and_bag_diffs_are_the_same_in_any_order(data, events):
    shuffled = {bag: data.draw(st.permutations(evs)) for bag, evs in events.items()}
    shuffled = dict(data.draw(st.permutations(list(shuffled.items()))))
    parcels = sorted({e["waybill"] for evs in events.values() for e in evs if e["kind"] in ("bag_build", "bag_open")})
    for p in parcels:
        assert bags.inferred(p, shuffled) == bags.inferred(p, events)
    assert bags.diffs(shuffled, as_of_ms=T0) == bags.diffs(events, as_of_ms=T0)
    # what the reference says: every built parcel inherits its bag's load and unload of that trip
    for bag, evs in events.items():
        for c in bags.cycles(evs):
            for p in c["built"]:
                got = [e for e in bags.inferred(p, events) if e["bag"] == bag and
                       (c["opened_ms"] is None or e["event_ms"] < c["opened_ms"]) and e["event_ms"] >= c["built_ms"]]
                assert [e["kind"] for e in got] == ["dispatch", "arrive"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), events=bag_histories())
def test_the_batched_status_of_many_parcels_is_what_track_says(tmp_path_factory, data, events):
    """``tracking.statuses`` (the caller lookup's parcels, a few set queries) gives each parcel the
    status, kind and site ``track`` gives it: with bags, inherited scans and deleted scans."""
    from hub.business.tracking import statuses, track
    from hub.ingest import pipeline
    sample_store(str(tmp_path_factory.mktemp("statuses") / "hub.db"))
    scans = [e for evs in events.values() for e in evs]
    parcels = sorted({e["waybill"] for e in scans})
    scans += [scan("receive", p, "100", T0 - H) for p in parcels if data.draw(st.booleans())]
    commit(*scans)
    gone = data.draw(st.lists(st.sampled_from(scans), max_size=4, unique_by=lambda e: e["id"]))
    committed, rejected = pipeline.commit([], [{"id": e["id"], "deleted_ms": T0 + 40 * H, "operator": e["operator"],
                                                "reason": "wrong", "uploaded": True, "scan": e} for e in gone])
    assert rejected == []
    asked = parcels + [wb(99)]
    want = {}
    for p in asked:
        t = track(p)
        if t is not None:
            want[p] = {"status": t["status"], "kind": t["kind"], "site": t["site"]}
    assert statuses(asked) == want


# ---------------------------------------------------------------- the gun image and the simulated gun

def test_reason_codes_reach_the_gun_image_and_the_simulated_gun_scans_bags(hub_store, tmp_path):
    from conftest import KEY
    from drivers.scanner.batch import BatchDecoder
    from edge.devices import record_overrides
    from firmware_images import container
    from hub.network.station_config import site_slice
    from hub.schema import connect
    from sim.gun_app import GunApp, ScanRefused
    connect(hub_store)
    cfg = site_slice("100")
    for u in cfg["gun_users"]:
        if u["login"] == "1002":
            u["kinds"] = ["bag_build", "load", "problem"]
    image = container.build_image(cfg, KEY, 1_700_000_000_000)
    got = container.read_image(image, KEY.public_key())
    assert got.info.format_version == 2 and got.config["reasons"] == cfg["reasons"]
    # a network without reason codes still gets a format-1 image, which format-1 readers load
    old = container.read_image(container.build_image({k: v for k, v in cfg.items() if k != "reasons"}, KEY, 1))
    assert old.info.format_version == 1 and "reasons" not in old.config

    gun = GunApp(image, KEY.public_key(), "G-1", store_dir=tmp_path / "g", clock_ms=lambda: T0)
    gun.login("1002", "2345")
    with pytest.raises(ScanRefused, match="needs the bag label"):
        gun.scan("bag_build", wb(51))
    gun.scan("bag_build", wb(51), bag="B100-0007")
    with pytest.raises(ScanRefused, match="not a bag label"):
        gun.scan("load", wb(51), dest="200")
    rec = gun.scan("load", "B100-0007", dest="200", seal="S-9")
    assert rec["next_site"] == "900" and rec["bag"] == "B100-0007" and rec["seal"] == "S-9"
    with pytest.raises(ScanRefused, match="needs a reason code"):
        gun.scan("problem", wb(52))
    gun.scan("problem", wb(52), reason="A03")
    with pytest.raises(ScanRefused, match="may not do unload"):
        gun.scan("unload", "B100-0007")

    # the station reads the upload and captures every record, bag fields and reason included
    c = capture(tmp_path, cfg, "100")
    reads = BatchDecoder("cradle").feed(gun.upload())
    verdicts = c.scan_batch([dict(record_overrides(r.record), text=r.text, captured_ms=r.time_ms, device="G-1")
                             for r in reads])
    assert [v.outcome for v in verdicts] == ["accepted"] * 3, [v.reason for v in verdicts]
    assert [(v.scan["kind"], v.scan.get("bag"), v.scan.get("seal"), v.scan.get("reason")) for v in verdicts] == [
        ("bag_build", "B100-0007", None, None), ("load", "B100-0007", "S-9", None), ("problem", None, None, "A03")]


# ---------------------------------------------------------------- gun users at the station

def test_the_station_logs_in_gun_users_by_pin_and_enforces_their_kinds(tmp_path, slices):
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    now = [T0]
    meta = {}
    clock = StationClock(lambda k, d=None: meta.get(k, d), meta.__setitem__, boot="b1")
    clock.wall = lambda: now[0]
    c = Capture("st-100", "100", Outbox(str(tmp_path / "pin.db")), clock, slices["100"], login="pin",
                idle_logout_ms=30 * 60_000)
    c.scan("%KRECEIVE")
    assert "log in first" in c.scan(wb(61)).reason
    assert c.scan("%P9999").reason == "unknown gun user 9999 at site 100"
    assert "enter the PIN" in c.scan("%P1002").reason
    assert "refused: no log-in" not in str(c.scan("%N0000"))
    assert c.scan("%N1111").reason == "wrong PIN for 1002 (1 tries left)"
    assert "three times" in c.scan("%N1234").reason
    assert "no log-in waiting" in c.scan("%N2345").reason
    c.scan("%P1002")
    v = c.scan("%N2345")
    assert v.outcome == "control" and "logged in 1002" in v.reason
    ok = c.scan(wb(61))
    assert ok.accepted and ok.scan["operator"] == "1002"
    c.scan("%KDELIVER"), c.scan("%C1001")
    assert c.scan(wb(61)).reason == "1002 may not do deliver scans (allowed: receive, dispatch, arrive, problem, hold)"
    c.scan("%KRECEIVE")
    now[0] += 31 * 60_000                     # idle: logged out
    assert "log in again (%P login, then %N PIN)" in c.scan(wb(62)).reason
    assert "log in first" in c.scan(wb(62)).reason


def test_the_station_file_names_the_login_mode(tmp_path):
    from edge.station import StationConfig, StationFileError
    p = tmp_path / "s.yaml"
    p.write_text("station: st-100-1\nsite: '100'\nlogin: pin\n")
    assert StationConfig.load(str(p)).login == "pin"
    p.write_text("station: st-100-1\nsite: '100'\nlogin: card\n")
    with pytest.raises(StationFileError, match="login must be staff"):
        StationConfig.load(str(p))
