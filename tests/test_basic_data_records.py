"""Basic data one record at a time (`scanhub site|staff|shift|rule`): the import's checks, one
new data version per change (the one an import of the changed file gives), a log of who changed
what, and a running hub that sends the station its new configuration."""
from __future__ import annotations

import json

import paho.mqtt.client as mqtt
import pytest
import yaml
from click.testing import CliRunner

import cli
from tests.conftest import SAMPLE, sample_store, wait_for


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture
def store(store_url):
    from hub.store.db import database
    sample_store(store_url)
    database.close()
    return store_url


def meta(url, key):
    from hub.schema import connect
    from hub.store.meta import get_meta
    connect(url)
    return get_meta(key)


def data_version(url):
    return meta(url, "data_version")


def imported_version(tmp_path, edit) -> str:
    """The data version of a fresh store that imported the sample file changed by ``edit``."""
    from hub.store.db import database
    raw = yaml.safe_load(open(SAMPLE, encoding="utf-8"))
    edit(raw)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    db = str(tmp_path / "edited.db")
    r = run("hub", "import", str(path), "--db", db)
    assert r.exit_code == 0, r.output
    v = data_version(db)
    database.close()
    return v


def by(section, key, value):
    return next(r for r in section if str(r[key]) == value)


def test_one_change_per_kind_gives_the_imported_data_version(store, tmp_path):
    changes = [
        (["staff", "set", "1001", "--site", "200", "--phone", "13800000000"],
         lambda raw: by(raw["staff"], "code", "1001").update(site="200", phone="13800000000")),
        (["site", "add", "300", "--name", "Xihu Site", "--center", "900", "--city", "Hangzhou"],
         lambda raw: raw["sites"].append({"code": "300", "name": "Xihu Site", "center": "900", "city": "Hangzhou"})),
        (["shift", "add", "B2", "--from", "900", "--to", "300", "--depart", "20:30", "--transit-min", "300"],
         lambda raw: raw["shifts"].append({"code": "B2", "from": "900", "to": "300", "depart": "20:30",
                                           "transit_min": 300})),
        (["rule", "add", "100", "300", "--next", "900", "--shift", "B2"],
         lambda raw: raw["next_stop"].append({"site": "100", "dest": "300", "next": "900", "shift": "B2"})),
        (["rule", "remove", "100", "300", "--shift", "B2"],
         lambda raw: raw["next_stop"].pop()),
        (["shift", "set", "B2", "--depart", "21:00"],
         lambda raw: by(raw["shifts"], "code", "B2").update(depart="21:00")),
    ]
    edits = []
    versions = [data_version(store)]
    for args, edit in changes:
        r = run(*args, "--db", store)
        assert r.exit_code == 0, (args, r.output)
        edits.append(edit)
        versions.append(data_version(store))
        assert versions[-1] != versions[-2], args
        assert f"data version {versions[-1]}" in r.output
        # the same content imported from a file has the same data version
        assert versions[-1] == imported_version(tmp_path, lambda raw: [e(raw) for e in edits]), args
    log = json.loads(run("shift", "history", "--json", "--db", store).output)
    assert [c["action"] for c in log] == ["set", "add"]
    # one logged change per command, each with the data version it produced
    all_versions = [json.loads(run(k, "history", "--json", "--db", store).output) for k in ("site", "staff", "shift", "rule")]
    logged = sorted(c["data_version"] for changes_ in all_versions for c in changes_)
    assert logged == sorted(versions[1:])


def test_a_staff_member_moves_with_their_gun_users(store):
    from hub.network import tables as m
    assert run("staff", "set", "1001", "--site", "200", "--db", store).exit_code == 0
    meta(store, "data_version")
    logins = list(m.GunUser.select().where(m.GunUser.staff == "1001"))
    assert logins and all(u.site == "200" for u in logins)
    from hub.network.station_config import site_slice
    assert "1001" in [p["code"] for p in site_slice("200")["staff"]]
    assert "1001" not in [p["code"] for p in site_slice("100")["staff"]]


@pytest.mark.parametrize("args, message", [
    (["staff", "set", "1001", "--site", "777"], "set staff 1001: 1 problem(s):\n  staff[0] 1001: unknown site 777"),
    (["staff", "add", "1009", "--name", "x", "--site", "100", "--phone", "1"], None),
    (["staff", "add", "1001", "--name", "x", "--site", "100"], "add staff 1001: it exists already"),
    (["staff", "add", "1" * 33, "--name", "x", "--site", "100"], "is longer than 32 characters"),
    (["staff", "add", "1010", "--site", "100"], "missing name"),
    (["site", "remove", "100"], "stations[0]: unknown site 100"),
    (["site", "set", "100", "--center", "200"], "parent 200 is not a center"),
    (["site", "set", "100", "--kind", "depot"], "kind must be site or center, not 'depot'"),
    (["site", "remove", "404"], "remove site 404: no such site"),
    (["shift", "set", "HZ-SH-08", "--depart", "25:00"], "depart must be HH:MM, not '25:00'"),
    (["shift", "set", "HZ-SH-08", "--transit-min", "-5"], "transit_min must be a positive whole number"),
    (["shift", "remove", "HZ-SH-08"], "unknown shift HZ-SH-08"),
    (["rule", "add", "100", "200", "--next", "900"], "it exists already"),
    (["rule", "add", "100", "555", "--next", "900"], "next_stop[5] dest: unknown site 555"),
    (["rule", "set", "100", "200", "--shift", "ZZ", "--next", "900"], "no such rule"),
])
def test_changes_are_checked_as_the_import_checks(store, args, message):
    from hub.network import tables as m
    before = data_version(store)
    r = run(*args, "--db", store)
    if message is None:         # a valid change, to show the others fail for their own reason
        assert r.exit_code == 0, r.output
        return
    assert r.exit_code == 1, r.output
    assert message in r.output and "Traceback" not in r.output
    assert data_version(store) == before
    assert m.BasicDataChange.select().count() == 0


def test_set_that_changes_nothing_writes_nothing(store):
    from hub.network import tables as m
    before = data_version(store)
    r = run("staff", "set", "1001", "--name", "Wang Fang", "--db", store)
    assert r.exit_code == 0 and "staff 1001 unchanged" in r.output
    assert data_version(store) == before and m.BasicDataChange.select().count() == 0
    r = run("staff", "set", "1001", "--name", "Wang Fang", "--json", "--db", store)
    assert r.exit_code == 0 and json.loads(r.output) is None
    r = run("staff", "set", "1001", "--db", store)
    assert r.exit_code == 2 and "nothing to change" in r.output
    r = run("staff", "set", "1001", "--code", "1002", "--db", store)
    assert r.exit_code == 2


def test_changes_are_logged_with_who_before_and_after(store):
    assert run("staff", "set", "1001", "--phone", "13800000000", "--by", "ops-li", "--db", store).exit_code == 0
    assert run("staff", "set", "1001", "--phone", "", "--db", store).exit_code == 0
    assert run("staff", "add", "1009", "--name", "Xu Ke", "--site", "200", "--db", store).exit_code == 0
    assert run("staff", "remove", "1009", "--db", store).exit_code == 0
    log = json.loads(run("staff", "history", "1001", "--json", "--db", store).output)
    assert [(c["action"], c["before"]["phone"], c["after"]["phone"]) for c in log] == \
        [("set", "13800000000", None), ("set", None, "13800000000")]
    import getpass
    assert log[1]["actor"] == "ops-li" and log[0]["actor"] == getpass.getuser()
    gone = json.loads(run("staff", "history", "1009", "--json", "--db", store).output)
    assert [(c["action"], c["before"] is None, c["after"] is None) for c in gone] == \
        [("remove", False, True), ("add", True, False)]
    assert gone[0]["before"]["name"] == "Xu Ke"
    # the log is not basic data: a re-import keeps it
    assert run("hub", "import", SAMPLE, "--db", store).exit_code == 0
    assert len(json.loads(run("staff", "history", "--json", "--db", store).output)) == 4
    assert run("staff", "show", "1009", "--db", store).exit_code == 1


def test_a_change_as_json(store):
    r = run("staff", "set", "1001", "--role", "clerk", "--json", "--db", store)
    assert r.exit_code == 0, r.output
    change = json.loads(r.output)
    assert (change["kind"], change["key"], change["action"]) == ("staff", "1001", "set")
    assert (change["before"]["role"], change["after"]["role"]) == ("courier", "clerk")
    assert change["data_version"] == data_version(store)


def test_list_and_show(store):
    r = run("staff", "list", "--site", "100", "--json", "--db", store)
    assert r.exit_code == 0
    assert [s["code"] for s in json.loads(r.output)] == ["1001", "1002"]
    r = run("rule", "show", "100", "200", "--json", "--db", store)
    assert r.exit_code == 0 and json.loads(r.output)["next"] == "900"
    r = run("site", "list", "--format", "csv", "--db", store)
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("code,name,kind")
    r = run("shift", "show", "NOPE", "--db", store)
    assert r.exit_code == 1 and "no shift NOPE" in r.output


def test_a_running_hub_sends_the_station_its_new_configuration(hub_store, hub_service, broker):
    from contract import protocol as P
    configs = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watch-config")
    c.on_message = lambda cl, u, msg: configs.append(json.loads(msg.payload))
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        c.subscribe(P.topic("st-100-1", P.CONFIG), qos=1)
        wait_for(lambda: configs, what="the first configuration")
        first = configs[-1]
        assert "13800000000" not in json.dumps(first)
        r = run("staff", "set", "1002", "--name", "Li Qiang Jr", "--db", hub_store)
        assert r.exit_code == 0, r.output
        wait_for(lambda: configs[-1]["version"] != first["version"], timeout=30, what="the new configuration")
        assert "Li Qiang Jr" in [p["name"] for p in configs[-1]["staff"]]
    finally:
        c.loop_stop()
        c.disconnect()


def test_changes_wait_for_another_writer_on_postgresql(pg_url):
    """A change is checked against committed basic data: while another transaction removes a
    site, a staff member added there waits for it, then is refused (without the wait both would
    pass their checks and the staff member would work at a site that does not exist)."""
    import threading

    import psycopg2

    from hub.network import records
    from hub.network.file import NetworkError
    from hub.schema import connect
    sample_store(pg_url)
    assert run("site", "add", "300", "--name", "Xihu", "--center", "900", "--db", pg_url).exit_code == 0
    other = psycopg2.connect(pg_url)
    cur = other.cursor()
    cur.execute("DELETE FROM site WHERE code = '300'")
    cur.execute("UPDATE meta SET value = 'by-the-other' WHERE key = 'data_version'")
    outcome = []

    def add():
        try:
            connect(pg_url)
            outcome.append(records.add("staff", {"code": "1009", "name": "Xu Ke", "site": "300"}))
        except Exception as e:  # noqa: BLE001 - the outcome is what the test looks at
            outcome.append(e)

    t = threading.Thread(target=add)
    t.start()
    watch = psycopg2.connect(pg_url)
    watch.autocommit = True
    try:
        def waiting():
            c = watch.cursor()
            c.execute("SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation "
                      "WHERE r.relname = 'meta' AND NOT l.granted")
            return c.fetchone()[0] > 0
        wait_for(lambda: waiting() or outcome, what="the change to wait for the other writer")
        assert not outcome, f"the change did not wait: {outcome}"
        other.commit()
        t.join(timeout=30)
        assert not t.is_alive()
        assert isinstance(outcome[0], NetworkError) and "unknown site 300" in str(outcome[0])
    finally:
        other.close()
        watch.close()
        t.join(timeout=30)


# ---------------------------------------------------------------- against the import, as a model

from hypothesis import HealthCheck, event, given, settings as hsettings, strategies as st  # noqa: E402

SITES = ["100", "200", "900", "901", "300", "777"]          # 300, 777: not in the sample
CODES = {"site": SITES, "staff": ["1001", "1002", "9001", "1009", "x" * 33],
         "shift": ["HZ-SH-08", "SH-HZ-09", "B2"]}
VALUES = {
    "site": {"name": st.sampled_from(["", "New Name", "Xihu"]), "kind": st.sampled_from(["site", "center", "depot"]),
             "center": st.sampled_from(["", "900", "100", "777"]), "city": st.sampled_from(["", "Hangzhou"])},
    "staff": {"name": st.sampled_from(["", "Xu Ke"]), "site": st.sampled_from(SITES),
              "role": st.sampled_from(["", "clerk"]), "phone": st.sampled_from(["", "13800000000"])},
    "shift": {"from": st.sampled_from(SITES), "to": st.sampled_from(SITES),
              "depart": st.sampled_from(["08:00", "21:30", "25:00"]), "transit_min": st.sampled_from(["240", "0", "x"])},
    "rule": {"next": st.sampled_from(SITES)},
}


@st.composite
def operations(draw):
    kind = draw(st.sampled_from(["site", "staff", "shift", "rule"]))
    action = draw(st.sampled_from(["add", "set", "remove"]))
    if kind == "rule":
        key = (draw(st.sampled_from(SITES[:4])), draw(st.sampled_from(["200", "201", "300"])),
               draw(st.sampled_from(["", "HZ-SH-08"])))
    else:
        key = (draw(st.sampled_from(CODES[kind])),)
    names = sorted(VALUES[kind])
    chosen = draw(st.lists(st.sampled_from(names), unique=True, min_size=1 if action == "set" else 0))
    fields = {n: draw(VALUES[kind][n]) for n in (names if action == "add" else chosen)} if action != "remove" else {}
    return kind, action, key, fields


def model_apply(raw, kind, action, key, fields):
    """The change on the network file itself: the new file, or the error the import gives."""
    import copy

    from hub.network.file import NetworkError, check_network
    from hub.network.records import KINDS
    k = KINDS[kind]
    new = copy.deepcopy(raw)
    items = new.setdefault(k.section, [])
    norm = lambda r: tuple("" if r.get(f) is None else str(r.get(f)).strip() for f in k.key)  # noqa: E731
    at = next((i for i, r in enumerate(items) if norm(r) == key), None)
    if action == "add":
        if at is not None:
            return raw, "exists"
        items.append(dict(zip(k.key, key), **fields))
    elif at is None:
        return raw, "missing"
    elif action == "set":
        items[at] = {**items[at], **fields}
    else:
        del items[at]
    try:
        check_network(new)
    except NetworkError:
        return raw, "refused"
    return new, None


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations(), min_size=1, max_size=8))
def test_record_changes_agree_with_editing_and_importing_the_file(tmp_path_factory, ops):
    import uuid

    from hub.network import records
    from hub.network.basic_data import import_network
    from hub.network.file import NetworkError, check_network
    from hub.schema import connect
    from hub.store.db import database
    raw = yaml.safe_load(open(SAMPLE, encoding="utf-8"))
    folder = tmp_path_factory.mktemp("model")
    a = sample_store(str(folder / f"a-{uuid.uuid4().hex}.db"))
    for kind, action, key, fields in ops:
        raw, expected = model_apply(raw, kind, action, key, fields)
        event(f"{action}: {expected or 'made'}")
        try:
            if action == "add":
                records.add(kind, dict(zip(records.KINDS[kind].key, key), **fields))
            elif action == "set":
                records.change(kind, key, fields)
            else:
                records.remove(kind, key)
            got = None
        except NetworkError:
            got = "refused"
        except records.RecordError as e:
            got = "exists" if "exists already" in str(e) else "missing"
        assert got == expected, (kind, action, key, fields)
    mine = {s: records.export_network()[s] for s in ("sites", "staff", "shifts", "next_stop")}
    version = data_version(a)
    database.close()
    b = str(folder / f"b-{uuid.uuid4().hex}.db")
    connect(b, create=True)
    net = check_network(raw)
    import_network(net)
    assert data_version(b) == version
    theirs = {s: records.export_network()[s] for s in mine}
    assert mine == theirs
    database.close()
