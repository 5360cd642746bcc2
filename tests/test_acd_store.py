"""The queue log in the store and the file, the callback list derived from it, and `scanhub cc`."""
from __future__ import annotations

import json

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from hub.acd import callbacks, kpi, store
from hub.acd.config import parse_queues
from hub.acd.engine import Engine
from hub.acd.queue_log import QueueLogError, parse_line, read_file
from hub.schema import connect

CENTRE = {"agents": [{"id": "1001"}, {"id": "1002"}],
          "queues": [{"name": "service", "wrapup_s": 10, "timeout_s": 60, "overflow": "voicemail:service",
                      "members": [{"agent": "1001"}, {"agent": "1002"}]}]}


class Clock:
    t = 1_764_000_000_321

    def __call__(self):
        return self.t


def day(eng, clock):
    """Two agents, four callers: one served, one abandons, one times out, one calls twice."""
    eng.login("1001", "seat-1")
    eng.join("c1", "service", "13800000001"); eng.answered("1001", "c1")
    clock.t += 120_000
    eng.hangup("c1")
    eng.join("c2", "service", "13800000002")     # 1001 in wrap-up, 1002 logged out: waits
    clock.t += 5_000
    eng.hangup("c2")                               # abandoned
    eng.join("c3", "service", "13800000003")
    clock.t += 6_000
    eng.tick()                                     # 1001's wrap-up ends: c3 rings 1001
    eng.no_answer("1001", "c3")
    eng.pause("1001", "training")
    clock.t += 60_000
    eng.tick()                                     # c3 times out to voicemail
    eng.join("c4", "service", "13800000002")       # c2's caller again
    clock.t += 30_000
    eng.hangup("c4")


def test_engine_log_reaches_file_and_store_and_the_callback_list(store_url, tmp_path):
    connect(store_url, create=True)
    path = tmp_path / "queue_log"
    sink = store.Sink(str(path))
    clock = Clock()
    eng = Engine(parse_queues(CENTRE), clock, log=sink)
    day(eng, clock)
    sink.file.close()
    lines = path.read_text().splitlines()
    assert lines[0].split("|")[2:5] == ["NONE", "1001", "AGENTLOGIN"]
    assert any(line.split("|")[4] == "ABANDON" for line in lines)
    stored = store.entries()
    assert [e.event for e in stored] == [parse_line(x).event for x in lines]
    assert store.import_file(str(path))["stored"] == 0            # already there, stored once
    r = callbacks.refresh()
    assert r == {"added": 2, "folded": 1, "closed": 0}
    rows = callbacks.listing()
    assert {(x["caller"], x["missed"], x["reason"]) for x in rows} == {("13800000002", 2, "ABANDON"),
                                                                       ("13800000003", 1, "EXITWITHTIMEOUT")}
    assert callbacks.refresh() == {"added": 0, "folded": 0, "closed": 0}   # idempotent
    k = kpi.queue_kpis(stored, sl_s=20, short_abandon_s=3)[0]
    assert (k["offered"], k["answered"], k["abandoned"], k["timed_out"]) == (4, 1, 2, 1)
    assert k["aht_s"] == 131 and k["asa_s"] == 0        # 120 s talk + 11 s wrap-up (ended at the tick)
    a = {x["agent"]: x for x in kpi.agent_kpis(stored, clock.t)}["1001"]
    assert a["ready_s"] + a["paused_s"] + a["ringing_s"] + a["talking_s"] + a["wrapup_s"] == a["logged_in_s"]
    assert a["pauses"] == {"training": 90.0}


def test_nothing_is_lost_while_the_hub_was_down(store_url, tmp_path):
    """The engine wrote only the file (the store was down): importing it later gives the same list."""
    path = tmp_path / "queue_log"
    from hub.acd.queue_log import FileWriter
    w = FileWriter(str(path))
    clock = Clock()
    day(Engine(parse_queues(CENTRE), clock, log=w.write), clock)
    w.close()
    connect(store_url, create=True)
    assert store.import_file(str(path))["stored"] == len(path.read_text().splitlines())
    callbacks.refresh()
    assert len(callbacks.listing()) == 2


def test_callback_attempts_and_a_caller_who_gets_through(store_url):
    connect(store_url, create=True)
    clock = Clock()
    eng = Engine(parse_queues(CENTRE), clock, log=store.record)
    day(eng, clock)
    callbacks.refresh()
    by = {x["caller"]: x["id"] for x in callbacks.listing()}
    callbacks.assign(by["13800000003"], "1002")
    assert callbacks.attempt(by["13800000003"], "1002", "busy")["status"] == "assigned"
    assert callbacks.attempt(by["13800000003"], "1002", "reached")["status"] == "done"
    eng.ready("1001")
    eng.join("c5", "service", "13800000002"); eng.answered("1001", "c5")
    assert callbacks.refresh()["closed"] == 1
    assert callbacks.listing() == []
    assert callbacks.completion()["completion_rate"] == 1.0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_queue_log_lines_parse_or_fail_with_one_clear_error(text):
    try:
        e = parse_line(text)
    except QueueLogError as err:
        assert "\n" not in str(err)
    else:
        assert e.event and e.time_ms >= 0


def test_a_bad_file_names_its_line(tmp_path):
    p = tmp_path / "queue_log"
    p.write_text("1764000000|c1|q|NONE|ENTERQUEUE||138\nnot a line\n")
    try:
        read_file(str(p))
    except QueueLogError as e:
        assert f"{p}:2" in str(e)
    else:
        raise AssertionError("no error")


def test_cli_log_callbacks_report_and_staffing(tmp_path):
    db = str(tmp_path / "hub.db")
    connect(db, create=True)
    path = tmp_path / "queue_log"
    from hub.acd.queue_log import FileWriter
    w = FileWriter(str(path))
    clock = Clock()
    day(Engine(parse_queues(CENTRE), clock, log=w.write), clock)
    w.close()
    run = CliRunner()
    r = run.invoke(main, ["cc", "log", "import", str(path), "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    r = run.invoke(main, ["cc", "callbacks", "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(x["caller"] for x in json.loads(r.output)) == ["13800000002", "13800000003"]
    for by in ("queue", "agent", "interval", "calls", "states"):
        for fmt in ("json", "csv", "html"):
            r = run.invoke(main, ["cc", "report", "--by", by, "--db", db, "--format", fmt, "--utc"])
            assert r.exit_code == 0, (by, fmt, r.output)
    r = run.invoke(main, ["cc", "report", "--db", db, "--json"])
    assert json.loads(r.output)[0]["offered"] == 4
    r = run.invoke(main, ["cc", "staffing", "--calls", "100", "--interval", "30m", "--aht", "180", "--target", "80/20",
                          "--json"])
    best = [x for x in json.loads(r.output) if x["meets_target"]][0]
    assert best["agents"] == 14 and best["p_wait"] == 0.1741 and round(best["service_level_rate"], 3) == 0.888
    r = run.invoke(main, ["cc", "staffing", "--calls", "100", "--aht", "180", "--target", "80"])
    assert r.exit_code == 2 and "percent/seconds" in r.output
    bad = tmp_path / "q.yaml"
    bad.write_text("queues: [{name: q, strategy: fastest}]\n")
    r = run.invoke(main, ["cc", "queues", "check", str(bad)])
    assert r.exit_code == 1 and "strategy: unknown 'fastest'" in r.output


def test_every_missed_call_of_a_simulated_day_has_a_callback_entry(tmp_path):
    """600 Poisson callers with patience through 11 agents: every caller who never reached an agent
    is on the list, once; nobody who was answered is."""
    from hub.acd.simulate import run, workload
    connect(str(tmp_path / "hub.db"), create=True)
    log = run(11, workload(600, per_hour=216, aht_s=180, patience_s=60, seed=3))
    store.record(log)
    callbacks.refresh()
    missed = {r["caller"] for r in kpi.call_waits(log) if r["outcome"] != "answered"}
    assert len(missed) > 20
    listed = [x["caller"] for x in callbacks.listing()]
    assert sorted(listed) == sorted(missed)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=6), seed=st.integers(0, 3))
def test_the_callback_list_does_not_depend_on_when_it_is_refreshed(tmp_path_factory, cuts, seed):
    """The log stored in any chunks with a refresh after each gives the list one refresh at the end gives."""
    from hub.acd.simulate import run, workload
    log = run(3, workload(60, per_hour=216, aht_s=180, patience_s=30, seed=seed), seed=seed)
    lists = []
    for chunks in ([log], [log[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(log)])]):
        connect(str(tmp_path_factory.mktemp("cb") / "hub.db"), create=True)
        for c in chunks:
            store.record(c)
            callbacks.refresh()
        lists.append([(x["caller"], x["missed"], x["reason"], x["status"]) for x in callbacks.listing("all")])
    assert lists[0] == lists[1]


def test_sticky_agents_survive_a_restart(tmp_path):
    connect(str(tmp_path / "hub.db"), create=True)
    clock = Clock()
    c = parse_queues({"agents": [{"id": "1001"}, {"id": "1002"}],
                      "queues": [{"name": "service", "strategy": "linear", "sticky": {"window_s": 3600},
                                  "members": [{"agent": "1001"}, {"agent": "1002"}]}]})
    eng = Engine(c, clock, log=store.record)
    eng.login("1001"), eng.login("1002")
    eng.join("x", "service", "13900000000"), eng.answered("1001", "x")
    eng.join("c1", "service", "13800000001"), eng.answered("1002", "c1")
    clock.t += 60_000
    eng.hangup("c1"), eng.hangup("x")
    clock.t += 60_000
    again = Engine(c, clock, last_agents=store.last_agents(3_600_000, clock.t))     # a new process
    again.login("1001"), again.login("1002")
    assert [a.agent for a in again.join("c2", "service", "13800000001") if hasattr(a, "agent")] == ["1002"]


def test_cli_simulate_compares_with_erlang_and_writes_a_queue_log(tmp_path):
    db = str(tmp_path / "hub.db")
    connect(db, create=True)
    qlog = tmp_path / "queue_log"
    r = CliRunner().invoke(main, ["cc", "simulate", "--agents", "3", "--per-hour", "40", "--aht", "200", "--calls", "200",
                                  "--replications", "2", "--patience", "60", "--queue-log", str(qlog), "--json"])
    assert r.exit_code == 0, r.output
    rows = {x["figure"]: x for x in json.loads(r.output[r.output.index("["):])}
    assert 0 < rows["service_level"]["simulated"] <= 1 and rows["abandon_rate"]["model"] > 0
    lines = qlog.read_text().splitlines()
    assert lines[-1].split("|")[4] == "AGENTLOGOFF"            # every agent ends logged out
    r = CliRunner().invoke(main, ["cc", "log", "import", str(qlog), "--db", db, "--json"])
    assert json.loads(r.output)["stored"] == len(lines)


@settings(max_examples=20, deadline=None)
@given(up=st.lists(st.booleans(), min_size=1, max_size=12), seed=st.integers(0, 5))
def test_file_import_after_outages_gives_exactly_the_file(tmp_path_factory, up, seed):
    """The engine writes the file always and the store only while it is up (``up``: per stretch of
    the log); importing the file afterwards makes the store hold every line exactly once, even
    identical lines in the same second."""
    from hub.acd.queue_log import Entry
    from hub.acd.simulate import run, workload
    log = run(2, workload(40, per_hour=400, aht_s=1, patience_s=1, seed=seed), seed=seed)
    log += [Entry(log[-1].time_ms, "x", "sim", "NONE", "ENTERQUEUE", ("", "dup"))] * 3     # identical lines
    tmp = tmp_path_factory.mktemp("imp")
    connect(str(tmp / "hub.db"), create=True)
    path = tmp / "queue_log"
    path.write_text("".join(e.line() + "\n" for e in log))
    size = -(-len(log) // len(up))
    for i, is_up in enumerate(up):
        if is_up:
            store.record(log[i * size:(i + 1) * size])
    store.import_file(str(path))
    store.import_file(str(path))
    assert sorted(e.line() for e in store.entries()) == sorted(e.line() for e in log)


def _cc_commands():
    import click

    import cli
    ctx = click.Context(cli.main)

    def walk(cmd, path):
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), path + [name])
    yield from walk(cli.main.get_command(ctx, "cc"), ["cc"])


CC_LISTINGS = {"cc callbacks", "cc report", "cc log show", "cc queues check", "cc qa results", "cc shift notice",
               "cc shift attendance", "cc shift log list", "cc shift notices list", "cc shift handover", "cc staffing",
               "cc simulate", "cc ahp", "cc fuzzy"}


def test_every_cc_command_follows_the_output_rule():
    import click
    seen = set()
    for path, cmd in _cc_commands():
        if isinstance(cmd, click.Group) and " ".join(path) not in CC_LISTINGS:
            continue
        name = " ".join(path)
        seen.add(name)
        opts = {o for p in cmd.params for o in p.opts}
        assert "--json" in opts, name
        if name in CC_LISTINGS:
            [fmt] = [p for p in cmd.params if "--format" in p.opts]
            assert set(fmt.type.choices) == {"table", "csv", "json", "html", "pdf"}, name
    assert CC_LISTINGS <= seen


def test_cc_report_prints_a_pdf_with_its_chart(tmp_path):
    db = str(tmp_path / "hub.db")
    connect(db, create=True)
    clock = Clock()
    eng = Engine(parse_queues(CENTRE), clock, log=store.record)
    day(eng, clock)
    for by in ("interval", "agent"):
        r = CliRunner().invoke(main, ["cc", "report", "--by", by, "--db", db, "--format", "pdf"])
        assert r.exit_code == 0 and r.stdout_bytes.startswith(b"%PDF"), r.output[:200]


def test_a_store_made_before_the_acd_gets_its_tables(tmp_path):
    """New tables only (no column of an existing table changed): an older store gets them when it
    is next opened, at the same schema version."""
    from hub.acd.tables import TABLES
    from hub.store.db import database
    db = str(tmp_path / "hub.db")
    connect(db, create=True)
    database.obj.drop_tables(TABLES)
    database.close()
    connect(db)
    assert all(database.obj.table_exists(t._meta.table_name) for t in TABLES)
    from hub.acd.queue_log import entry
    assert store.record([entry(1, "c", "q", "a", "ENTERQUEUE", "", "1")]) == 1
