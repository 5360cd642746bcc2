"""Telephone pickup orders: the task reaches the site's station over the retained downlink (also
after a restart and while offline), the courier's receive scan names it, the hub closes it."""
import json
import time

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from conftest import wait_for, wb

ADDRESS = "浙江省杭州市西湖区文三路 1 号"


def run(*args):
    return CliRunner().invoke(main, list(args))


def add(db, *extra):
    r = run("pickup", "add", "--phone", "138 0000 0000", "--address", ADDRESS, "--sender", "Wang Fang",
            "--json", *extra, *db)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def coverage(tmp_path, db):
    cov = tmp_path / "cov.yaml"
    cov.write_text('coverage:\n  - {site: "100", province: "33", city: "3301"}\n')
    assert run("orders", "coverage", str(cov), *db).exit_code == 0


def codes(agent):
    return [t["code"] for t in agent.pickup_tasks()]


def test_task_to_station_and_closed_by_the_receive_scan(hub_service, hub_store, make_edge, tmp_path):
    db = ["--db", hub_store]
    coverage(tmp_path, db)
    now = int(time.time() * 1000)
    first = add(db, "--parcels", "2", "--from", str(now), "--to", str(now + 3_600_000))
    assert first["site"] == "100" and first["phone"] == "+8613800000000" and first["state"] == "open"
    edge = make_edge()
    wait_for(lambda: codes(edge) == [first["code"]], timeout=30, what="the task at the station")
    assert edge.status()["pickup_tasks"] == 1
    edge.stop()

    # added while the station is stopped; the station restarts offline (no broker reachable)
    second = add(db, "--from", str(now + 60_000), "--to", str(now + 7_200_000), "--note", "gate 3")
    offline = make_edge(broker_url="mqtt://127.0.0.1:9")
    assert codes(offline) == [first["code"]]          # kept in the outbox: survives the restart, offline
    assert offline.pickup_task(first["code"])["parcels"] == 2
    offline.stop()
    import yaml
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "outbox": offline.cfg.outbox}))
    listed = json.loads(run("edge", "pickups", "--config", str(station), "--json").output)
    assert [t["code"] for t in listed["tasks"]] == [first["code"]] and listed["tasks"][0]["overdue"] is False
    assert first["code"] in run("edge", "pickups", "--config", str(station)).output

    edge = make_edge()                                # back online: the retained list has both
    wait_for(lambda: codes(edge) == [first["code"], second["code"]], timeout=30, what="both tasks")
    assert edge.config_event.wait(15)
    c = edge.capture
    assert c.scan(f"%U{first['code']}").outcome == "refused"        # no kind yet
    for code in ("%KRECEIVE", "%P1001", f"%U{first['code']}"):
        assert c.scan(code).outcome == "control", code
    v1, v2 = c.scan(wb(1)), c.scan(wb(2))
    assert v1.accepted and v2.accepted and v1.scan["extra"] == {"pickup": first["code"]}
    assert c.context("menu").pickup is None                         # both parcels in: the task ends here
    assert "pickup" not in (c.scan(wb(3)).scan.get("extra") or {})
    def shown():
        return json.loads(run("pickup", "show", first["code"], "--json", *db).output)
    # done from its first link; both links once both scans are derived (they may come in two batches)
    wait_for(lambda: shown()["waybills"] == [wb(1), wb(2)], timeout=30, what="the hub to link both parcels")
    assert shown()["state"] == "done" and shown()["links"][0]["courier"] == "1001"
    wait_for(lambda: codes(edge) == [second["code"]], timeout=30, what="the closed task to leave the list")

    assert run("pickup", "cancel", second["code"], "--reason", "customer called off", *db).exit_code == 0
    wait_for(lambda: codes(edge) == [], timeout=30, what="the cancelled task to leave the list")
    r = run("pickup", "cancel", first["code"], "--reason", "x", *db)
    assert r.exit_code == 1 and "done already" in r.output
    listed = json.loads(run("pickup", "list", "--json", *db).output)
    assert [t["state"] for t in listed] == ["cancelled", "done"]


def test_overdue_report_and_the_work_order_hook(hub_store, tmp_path):
    db = ["--db", hub_store]
    late = add(db, "--site", "100", "--from", "2026-01-05T09:00", "--to", "2026-01-05T12:00")
    add(db, "--site", "100")                               # from now, for four hours
    r = run("pickup", "overdue", "--json", *db)
    assert [t["code"] for t in json.loads(r.output)] == [late["code"]]
    r = run("pickup", "overdue", "--at", "2026-01-05T11:00", "--json", *db)
    assert json.loads(r.output) == []
    r = run("pickup", "overdue", "--format", "csv", *db)
    assert r.output.splitlines()[0].startswith("code,site,window_to") and late["code"] in r.output
    try:
        import hub.crm.workorders  # noqa: F401
    except ImportError:
        r = run("pickup", "overdue", "--work-orders", *db)
        assert r.exit_code == 1 and "work orders package" in r.output


def test_bad_orders_get_one_line(hub_store):
    db = ["--db", hub_store]
    for args, why in ((["--phone", "12", "--address", ADDRESS], "not a phone number"),
                      (["--phone", "13800000000", "--address", "上海市浦东新区"], "no site for this address"),
                      (["--phone", "13800000000", "--address", ADDRESS, "--site", "999"], "unknown site 999"),
                      (["--phone", "13800000000", "--address", ADDRESS, "--site", "100", "--from", "2026-01-02",
                        "--to", "2026-01-01"], "ends before it starts")):
        r = run("pickup", "add", *args, *db)
        assert r.exit_code == 1 and why in r.output and "Traceback" not in r.output, r.output
    r = run("pickup", "show", "PK999999", *db)
    assert r.exit_code == 1 and "no pickup task" in r.output


def test_the_scan_link_is_validated_by_the_contract():
    from contract.errors import PayloadError
    from contract.scan import validate_scan
    base = {"kind": "receive", "id": "x1", "station": "st-100-1", "waybill": wb(1), "site": "100",
            "edge_ms": 1795600000000, "event_ms": 1795600000000, "seq": 1}
    assert json.loads(validate_scan(dict(base, extra={"pickup": "PK000001"}))["extra_json"]) == {"pickup": "PK000001"}
    for extra, why in (({"pickup": "P1"}, "not a task code"), ({"pickup": 12}, "not a task code")):
        with pytest.raises(PayloadError, match=why):
            validate_scan(dict(base, extra=extra))
    with pytest.raises(PayloadError, match="only a receive scan"):
        validate_scan(dict(base, kind="arrive", extra={"pickup": "PK000001"}))


# ------------------------------------------------------------------ the downlink, fuzzed at the edge

def _good(site="100", n=2):
    from contract.pickup import check_task, task_list
    tasks = [check_task({"code": f"PK{i:06d}", "address": "addr", "parcels": 1, "window_from_ms": 1,
                         "window_to_ms": 2}) for i in range(1, n + 1)]
    return task_list(site, tasks, 1795600000000)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                       max_leaves=20)


def _mutations():
    good = _good()
    keys = st.sampled_from(["site", "version", "generated_ms", "tasks", "v"])
    task_keys = st.sampled_from(["code", "address", "parcels", "window_from_ms", "window_to_ms", "sender", "x"])
    top = st.builds(lambda k, v: {**good, k: v}, keys, JSONISH)
    in_task = st.builds(lambda k, v: {**good, "tasks": [{**good["tasks"][0], k: v}, good["tasks"][1]]}, task_keys, JSONISH)
    return (top | in_task | JSONISH).map(lambda o: json.dumps(o).encode()) | st.binary(max_size=200)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=_mutations())
def test_bad_task_lists_never_crash_the_station_and_keep_the_last_good(tmp_path, payload):
    from contract.errors import PayloadError
    from contract.pickup import parse_task_list
    from edge.agent import EdgeAgent
    from edge.station import StationConfig
    try:
        parse_task_list(payload, "100")
        accepted = True
    except PayloadError:
        accepted = False
    agent = EdgeAgent(StationConfig(station="st-100-1", site="100", broker="mqtt://127.0.0.1:9",
                                    outbox=str(tmp_path / "fuzz.outbox.db")))
    try:
        good = _good()
        agent._on_pickup(json.dumps(dict(good, v=1)).encode())
        agent._on_pickup(payload)
        if not accepted:
            assert agent.pickup == parse_task_list(good) and agent.pickup_error
        else:
            new = parse_task_list(payload)     # the same version is the same tasks: the first copy is kept
            assert {k: v for k, v in agent.pickup.items() if k != "generated_ms"} == \
                {k: v for k, v in new.items() if k != "generated_ms"}
    finally:
        agent.outbox.close()
        agent.proofs.close()


def test_a_list_for_another_site_or_with_a_wrong_version_is_refused():
    from contract.errors import PayloadError
    from contract.pickup import parse_task_list
    with pytest.raises(PayloadError, match="site 200"):
        parse_task_list(_good("200"), "100")
    bad = _good()
    bad["tasks"][0]["parcels"] = 3
    with pytest.raises(PayloadError, match="version does not match"):
        parse_task_list(bad, "100")


# ------------------------------------------------------------------ the order input, fuzzed

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=320)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sender=TEXT, phone=st.one_of(TEXT, st.sampled_from(["13800000000", "+86 571 8888 1234", "0571-88881234"])),
       address=TEXT, parcels=st.one_of(st.integers(-5, 1200), st.none()), start=st.integers(-10, 10**13),
       length=st.integers(-10**6, 30 * 86_400_000), note=TEXT)
def test_any_order_input_is_stored_whole_or_refused_in_words(hub_store, sender, phone, address, parcels, start,
                                                             length, note):
    from hub.business import pickup as pk
    from hub.schema import connect
    connect(hub_store)
    before = pk.changed()
    try:
        t = pk.add(sender=sender, phone=phone, address=address, parcels=parcels, window_from_ms=start,
                   window_to_ms=start + length, note=note, site="100")
    except pk.PickupError as e:
        assert str(e) and "\n" not in str(e)
        assert pk.changed() == before
        return
    assert t["address"] == " ".join(address.split()) and t["phone"].startswith("+")
    assert pk.show(t["code"]) == t
    assert t["code"] in [x["code"] for x in pk.site_tasks("100")]


# ------------------------------------------------------------------ the derivation step

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(links=st.lists(st.tuples(st.integers(1, 6), st.sampled_from([1, 2, 3]), st.booleans()), max_size=12),
       order=st.randoms(use_true_random=False))
def test_links_and_states_follow_the_live_receive_scans_in_any_order(model_store, links, order):
    """Scans (waybill n names task k; deleted or live) derived waybill by waybill in any order,
    each more than once, give: a task is done exactly when a live receive scan names it
    (SQLite and PostgreSQL)."""
    from hub.business import pickup as pk
    from hub.business import tables as bm
    from hub.network import tables as net
    if net.Site.get_or_none(net.Site.code == "100") is None:
        from hub.network.basic_data import import_network
        from hub.network.file import load_network
        from conftest import SAMPLE
        import_network(load_network(SAMPLE))
    bm.PickupLink.delete().execute()
    bm.PickupTask.delete().execute()
    tasks = [pk.add(phone="13800000000", address="a", parcels=1, window_from_ms=1, window_to_ms=2, site="100")["code"]
             for _ in range(3)]
    events: dict[str, list[dict]] = {}
    for i, (n, k, live) in enumerate(links):
        if live:
            events.setdefault(wb(n), []).append({"id": f"s{i}", "kind": "receive", "site": "100", "courier": "1001",
                                                 "event_ms": 1795600000000 + i, "extra": {"pickup": tasks[k - 1]}})
    wbs = [wb(n) for n in range(1, 7)] * 2
    order.shuffle(wbs)
    for w in wbs:
        pk.refresh({w}, {w: events.get(w, [])})
    want = {tasks[k - 1] for n, k, live in links if live}
    got = {t["code"]: t for t in pk.tasks()}
    assert {c for c, t in got.items() if t["state"] == "done"} == want
    for c in want:
        assert got[c]["done_ms"] == min(e["event_ms"] for evs in events.values() for e in evs
                                        if e["extra"]["pickup"] == c)
    pk.refresh(set(events), {})                           # every scan deleted: open again
    assert all(t["state"] == "open" for t in pk.tasks())


def test_the_protocol_docs_examples_read_as_the_contract_says():
    import os
    import re

    from contract.pickup import parse_task_list
    from contract.scan import validate_scan
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "protocol.md"), encoding="utf-8").read()
    listed = json.loads(re.search(r"<!-- example-pickup-list -->\s*```json\n(.*?)```", doc, re.S).group(1))
    assert parse_task_list(json.dumps(listed), "100")["tasks"][0]["code"] == "PK000001"
    batch = json.loads(re.search(r"<!-- example-pickup -->\s*```json\n(.*?)```", doc, re.S).group(1))
    assert [json.loads(validate_scan(s)["extra_json"]) for s in batch["scans"]] == [{"pickup": "PK000001"}]


def test_the_printed_task_sheet_decodes_to_what_the_gun_accepts(hub_store, tmp_path):
    """``scanhub print pickups``: each task's %U<code> decodes (zxing-cpp) from the rendered PDF."""
    zxingcpp = pytest.importorskip("zxingcpp", reason="needs zxing-cpp: pip install zxing-cpp")
    pdfium = pytest.importorskip("pypdfium2", reason="needs pypdfium2: pip install pypdfium2")
    db = ["--db", hub_store]
    t1, t2 = add(db, "--site", "100"), add(db, "--site", "100", "--parcels", "3")
    out = tmp_path / "pickups.pdf"
    r = run("print", "pickups", "--site", "100", "--out", str(out), *db)
    assert r.exit_code == 0 and "2 task(s)" in r.output, r.output
    pdf = pdfium.PdfDocument(str(out))
    found = [b.text for b in zxingcpp.read_barcodes(pdf[0].render(scale=300 / 72).to_pil().convert("L"))]
    pdf.close()
    assert sorted(found) == [f"%U{t1['code']}", f"%U{t2['code']}"]
    r = run("print", "pickups", "--site", "101", "--out", str(out), *db)
    assert r.exit_code == 1 and "no open pickup tasks at site 101" in r.output


def test_the_console_lists_the_open_tasks_and_says_when_they_change(tmp_path):
    from rich.console import Console

    from edge.agent import EdgeAgent
    from edge.console import StationScreen, window_text
    from edge.station import StationConfig
    agent = EdgeAgent(StationConfig(station="st-100-1", site="100", broker="mqtt://127.0.0.1:9",
                                    outbox=str(tmp_path / "console.outbox.db")))
    try:
        screen = StationScreen(agent)
        screen._devices_from = float("inf")
        con = Console(width=120, record=True, file=open("/dev/null", "w"))
        con.print(screen.render(120))
        assert "no task list from the hub yet" in con.export_text()
        agent._on_pickup(json.dumps(_good(n=2)).encode())
        first, second = (window_text(dict(t, overdue=True)) for t in agent.pickup_tasks())
        assert [ln for ln in screen.changes() if ln.startswith("pickups:")] == [
            f"pickups: 2 open; new PK000001 ({first}, 1 pc, addr), PK000002 ({second}, 1 pc, addr)"]
        con.print(screen.render(120))
        text = con.export_text()
        assert "pickups (2 open)" in text and "PK000002" in text and "OVERDUE" in text
        agent._on_pickup(json.dumps(_good(n=1)).encode())
        assert "pickups: 1 open; closed or cancelled PK000002" in screen.changes()
        assert screen.changes() == []
    finally:
        agent.outbox.close()
        agent.proofs.close()


def test_the_gun_keeps_the_task_for_its_parcels_and_across_a_restart(tmp_path):
    from edge.agent import EdgeAgent
    from edge.station import StationConfig

    def station():
        return EdgeAgent(StationConfig(station="st-100-1", site="100", broker="mqtt://127.0.0.1:9",
                                       outbox=str(tmp_path / "gun.outbox.db")))
    agent = station()
    good = _good(n=1)
    good["tasks"][0]["parcels"] = 3
    from contract.pickup import list_version
    good["version"] = list_version("100", good["tasks"])
    agent._on_pickup(json.dumps(good).encode())
    c = agent.capture
    for code in ("%KRECEIVE", "%P1001"):
        c.scan(code, device="gun-1")
    assert c.scan("%UPK12", device="gun-1").outcome == "refused"
    v = c.scan("%Upk000001", device="gun-1")
    assert v.outcome == "control" and "3 parcel(s)" in v.reason
    assert c.scan(wb(1), device="gun-1").scan["extra"] == {"pickup": "PK000001"}
    agent.capture.save_contexts(), agent.outbox.close(), agent.proofs.close()
    agent = station()                                  # restarted: the gun is still on the task
    c = agent.capture
    assert c.context("gun-1").pickup == "PK000001" and c.context("gun-1").pickup_left == 2
    assert "pickup PK000001" in str(c.scan(wb(2), device="gun-1"))
    assert c.scan("%U", device="gun-1").reason == "pickup PK000001 ended"
    assert "extra" not in c.scan(wb(3), device="gun-1").scan
    v = c.scan("%UPK000077", device="gun-1")           # not on the list: taken for one parcel
    assert v.outcome == "control" and "not in this station's task list" in v.reason
    assert c.scan(wb(4), device="gun-1").scan["extra"] == {"pickup": "PK000077"}
    assert "extra" not in c.scan(wb(5), device="gun-1").scan
    c.scan("%UPK000001", device="gun-1")
    c.scan("%KARRIVE", device="gun-1")                 # another kind ends it
    assert c.context("gun-1").pickup is None
    agent.outbox.close()
    agent.proofs.close()


def test_overdue_tasks_raise_one_work_order_each(hub_store):
    """Each overdue task raises one work order (kind pickup, subkind missed) in the work orders
    package, however often the watch runs; a task still in its window raises none."""
    from hub.crm.workorders.orders import listing, show
    db = ["--db", hub_store]
    late = add(db, "--site", "100", "--from", "2026-01-05T09:00", "--to", "2026-01-05T12:00")
    add(db, "--site", "100", "--from", "2099-01-05T09:00", "--to", "2099-01-05T12:00")
    for _ in range(2):
        r = run("pickup", "overdue", "--work-orders", "--json", *db)
        assert r.exit_code == 0, r.output
    orders = listing(kind="pickup")
    assert [(o["subkind"], o["source"]) for o in orders] == [("missed", "pickup")]
    full = show(orders[0]["ticket"])
    assert late["code"] in full["content"] and "site 100" in full["content"]
