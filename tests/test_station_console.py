"""The station console and what it shows: refusals in words, the context kept across a restart,
idle log-out, staff before the hub is first reached, the scale's state, the sounds, the screen,
plain lines for link and device changes, `edge status` devices, `edge outbox` / `edge delete`
output."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import RULES, read_line, wait_for, wb
from contract.waybill import WaybillRules, describe_pattern
from edge.capture import Capture
from edge.clock import StationClock
from edge.outbox import Outbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")


@pytest.fixture
def slices(hub_store):
    from hub.network.station_config import site_slice
    from hub.schema import connect
    from hub.store.db import database
    connect(hub_store)
    out = {s: site_slice(s) for s in ("100", "900")}
    database.close()
    return out


class Wall:
    """A wall clock the test moves (the station clock takes its time source as an argument)."""

    def __init__(self, ms=1_800_000_000_000):
        self.ms = ms

    def __call__(self):
        return self.ms


def capture(path, cfg=None, wall=None, **kw):
    ob = Outbox(str(path))
    meta = {}
    clock = StationClock(lambda k, d=None: meta.get(k, d), meta.__setitem__, wall=wall or Wall(), boot="b1")
    return Capture("st-100", "100", ob, clock, cfg, **kw)


# ------------------------------------------------------------------ refusals in words
def test_a_refused_waybill_says_what_a_number_looks_like_not_its_regex():
    assert RULES.refusal("12345") == "not a waybill number: 14 digits starting with 7 expected"
    assert RULES.refusal(wb(1)) is None
    bad = wb(1)[:-1] + str((int(wb(1)[-1]) + 1) % 10)
    assert "check digit wrong" in RULES.refusal(bad) and "^7" not in RULES.refusal(bad)
    two = WaybillRules([{"name": "std14", "pattern": "^7[0-9]{13}$"},
                        {"name": "s10", "pattern": "^[A-Z]{2}[0-9]{9}[A-Z]{2}$", "check": "mod11-s10"},
                        {"name": "yt", "prefixes": ["YT"], "lengths": [15]},
                        {"name": "x", "pattern": "^(A|B)+$", "description": "A and B only"}])
    assert two.refusal("hello") == ("not a waybill number: 14 digits starting with 7 or 2 letters, 9 digits, "
                                    "2 letters or 15 characters starting with YT or A and B only expected")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_describing_any_pattern_never_raises(pattern):
    out = describe_pattern(pattern)
    assert out is None or isinstance(out, str)


@settings(max_examples=200, deadline=None)
@given(prefix=st.text("0123456789", min_size=1, max_size=4), n=st.integers(1, 20))
def test_a_digit_pattern_is_described_by_its_length_and_prefix(prefix, n):
    assert describe_pattern(f"^{prefix}[0-9]{{{n}}}$") == f"{len(prefix) + n} digits starting with {prefix}"
    assert describe_pattern(rf"^{prefix}\d{{{n}}}$") == f"{len(prefix) + n} digits starting with {prefix}"


def test_capture_refuses_with_the_words(tmp_path, slices):
    c = capture(tmp_path / "o.db", slices["100"])
    c.scan("%KRECEIVE")
    c.scan("%P1002")
    why = c.scan("12345").reason
    assert why.startswith("not a waybill number: 14 digits starting with 7") and "[0-9]" not in why


# ------------------------------------------------------------------ accepted: weight, next stop
def test_an_accepted_arrival_shows_its_weight_and_a_dispatch_its_resolved_next_stop(tmp_path, slices):
    c = capture(tmp_path / "o.db", slices["100"], weight_source=lambda: 1250)
    c.scan("%KARRIVE")
    c.scan("%P1002")
    v = c.scan(wb(1))
    assert v.accepted and v.detail == "weight 1250 g" and str(v).endswith("(weight 1250 g)")
    c.scan("%KDISPATCH")
    c.scan("%D200")                       # no next site scanned: the next-stop table resolves it
    v = c.scan(wb(2))
    assert v.accepted and v.detail == f"next stop {v.scan['next_site']}" and v.scan["next_site"]


# ------------------------------------------------------------------ context across a restart
def test_the_scanning_context_and_operator_survive_a_restart(tmp_path, slices):
    c = capture(tmp_path / "o.db", slices["100"])
    for code in ("%KDISPATCH", "%P1002", "%S900", "%HHZ-SH-08"):
        assert c.scan(code, device="gun-1").outcome == "control", code
    c.outbox.close()
    again = capture(tmp_path / "o.db", slices["100"])          # the station restarted
    ctx = again.context("gun-1")
    assert (ctx.kind, ctx.operator, ctx.site_ref, ctx.shift) == ("dispatch", "1002", "900", "HZ-SH-08")
    v = again.scan(wb(3), device="gun-1")
    assert v.accepted and v.scan["next_site"] == "900" and v.scan["operator"] == "1002"
    assert again.context("other").operator is None              # each gun has its own


def test_idle_logout_applies_live_and_across_a_restart(tmp_path, slices):
    wall = Wall()
    c = capture(tmp_path / "o.db", slices["100"], wall=wall, idle_logout_ms=30 * 60_000)
    c.scan("%KRECEIVE")
    c.scan("%P1002")
    wall.ms += 29 * 60_000
    assert c.scan(wb(4)).accepted                                # 29 minutes: still logged in
    wall.ms += 31 * 60_000
    v = c.scan(wb(5))
    assert v.outcome == "refused" and "logged out after 30 min" in v.reason
    assert c.context().operator is None and c.context().kind == "receive"
    c.scan("%P1002")
    assert c.scan(wb(5)).accepted
    c.save_contexts()
    c.outbox.close()
    wall.ms += 45 * 60_000                                       # down for 45 minutes
    again = capture(tmp_path / "o.db", slices["100"], wall=wall, idle_logout_ms=30 * 60_000)
    assert "logged out" in again.scan(wb(6)).reason
    again.outbox.close()
    kept = capture(tmp_path / "o.db", slices["100"], wall=wall)   # without idle log-out: kept
    assert kept.context().operator is None                        # the log-out itself was kept


# ------------------------------------------------------------------ before the hub is reached
def test_a_station_that_never_reached_the_hub_accepts_only_its_listed_staff(tmp_path, slices):
    c = capture(tmp_path / "o.db", None, offline_staff=["1002"])
    v = c.scan("%P2001")                                          # staff of site 200
    assert v.outcome == "refused" and "has not reached the hub" in v.reason
    assert c.scan("%P1002").outcome == "control"
    c.scan("%KRECEIVE")
    assert c.scan(wb(7)).accepted
    none = capture(tmp_path / "n.db", None, offline_staff=[])
    assert none.scan("%P1002").outcome == "refused"
    none.set_config(slices["100"])                                # the hub's list decides from now on
    assert none.scan("%P1002").outcome == "control"
    assert "unknown staff code 2001" in none.scan("%P2001").reason


def test_the_station_file_staff_list_is_the_offline_list(tmp_path, make_edge):
    from edge.station import StationConfig, StationFileError
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"station": "st-1", "site": "100", "outbox": "o.db"}))
    assert StationConfig.load(str(f)).staff == []                 # no list: nobody before the hub
    f.write_text(yaml.safe_dump({"station": "st-1", "site": "100", "outbox": "o.db", "staff": ["1002", 1001],
                                 "idle_logout_min": 20}))
    cfg = StationConfig.load(str(f))
    assert cfg.staff == ["1002", "1001"] and cfg.idle_logout_min == 20
    for bad in ({"staff": "1002"}, {"staff": [True]}, {"idle_logout_min": 0}, {"idle_logout_min": "soon"}):
        f.write_text(yaml.safe_dump({"station": "st-1", "site": "100", **bad}))
        with pytest.raises(StationFileError):
            StationConfig.load(str(f))
    agent = make_edge(broker_url="mqtt://127.0.0.1:1", staff=["1002"], idle_logout_min=20)
    assert agent.capture.scan("%P2001").outcome == "refused"
    assert agent.capture.idle_logout_ms == 20 * 60_000


# ------------------------------------------------------------------ the scale
@pytest.fixture
def sim_scale(tmp_path):
    from sim.scale_devices import SimScale
    s = SimScale("toledo-continuous", link=str(tmp_path / "scale"), rate_hz=20, settle_s=0.05)
    s.set_weight(1250, settle=False)
    yield s
    s.close()


def test_a_missing_scale_port_says_scale_not_connected(tmp_path, make_edge):
    from edge.devices import device_states, open_devices
    agent = make_edge(broker_url="mqtt://127.0.0.1:1")
    open_devices(agent, [{"type": "scale", "protocol": "toledo-continuous", "port": str(tmp_path / "none")}])
    agent.capture.scan("%KARRIVE")
    agent.capture.scan("%P1002")
    v = agent.capture.scan(wb(8))
    assert v.outcome == "refused" and v.reason.startswith("scale not connected") and "settle" not in v.reason
    (dev,) = device_states(agent)
    assert {k: dev[k] for k in ("type", "id", "port", "protocol", "state", "connected", "weight_g", "stable")} == \
        {"type": "scale", "id": str(tmp_path / "none"), "port": str(tmp_path / "none"),
         "protocol": "toledo-continuous", "state": "reconnecting", "connected": False, "weight_g": None, "stable": None}
    assert dev["frames"] == 0


def test_a_connected_scale_weighs_and_an_unplugged_one_is_reported(tmp_path, make_edge, sim_scale):
    from edge.devices import device_states, open_devices
    agent = make_edge(broker_url="mqtt://127.0.0.1:1")
    open_devices(agent, [{"type": "scale", "protocol": "toledo-continuous", "port": sim_scale.link.link}])
    wait_for(lambda: device_states(agent)[0]["weight_g"] == 1250, what="the scale's weight")
    agent.capture.scan("%KARRIVE")
    agent.capture.scan("%P1002")
    v = agent.capture.scan(wb(9))
    assert v.accepted and v.scan["weight_g"] == 1250
    sim_scale.unplug()
    wait_for(lambda: not device_states(agent)[0]["connected"], what="the unplug to be seen")
    assert device_states(agent)[0]["weight_g"] is None
    assert agent.capture.scan(wb(10)).reason.startswith("scale not connected")


# ------------------------------------------------------------------ sounds
def test_the_good_and_the_error_sound_differ():
    from edge.capture import Verdict
    from edge.console import ERROR, GOOD, Sounds, sound_of
    out = io.StringIO()
    lock = threading.Lock()

    def write(s):
        with lock:
            out.write(s)
    sounds = Sounds(write, gap_s=0.01)
    assert sound_of(Verdict("accepted", scan={"kind": "receive", "waybill": "x"})) == GOOD
    assert sound_of(Verdict("control", "kind receive")) == GOOD
    assert sound_of(Verdict("refused", "no")) == ERROR
    sounds.play(GOOD)
    assert out.getvalue() == "\a"
    sounds.play(ERROR)
    wait_for(lambda: out.getvalue() == "\a" * 4, what="three bells of the error sound")


def test_a_sound_command_runs_instead_of_bells(tmp_path):
    from edge.console import ERROR, GOOD, Sounds
    marks = tmp_path / "marks"
    wrote = []
    sounds = Sounds(wrote.append, f"sh -c 'echo good >> {marks}'", f"sh -c 'echo error >> {marks}'")
    sounds.play(GOOD)
    wait_for(lambda: marks.exists() and marks.read_text() == "good\n", what="the good command")
    sounds.play(ERROR)
    wait_for(lambda: marks.read_text() == "good\nerror\n", what="the error command")
    assert wrote == []


# ------------------------------------------------------------------ the screen
def screen_text(screen, width=100) -> str:
    from rich.console import Console
    con = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    con.print(screen.render(width))
    return con.export_text()


def test_the_screen_shows_context_verdict_link_devices_and_fill(tmp_path, make_edge, sim_scale, slices):
    from edge.console import StationScreen, plain_verdict, Sounds
    from edge.devices import open_devices
    agent = make_edge(broker_url="mqtt://127.0.0.1:1")
    agent._on_config(slices["100"])
    screen = StationScreen(agent)
    show = plain_verdict(screen, Sounds(lambda s: None), out=io.StringIO())
    open_devices(agent, [{"type": "scale", "protocol": "toledo-continuous", "port": sim_scale.link.link}],
                 on_verdict=show)
    text = screen_text(screen)
    assert "scan a kind code" in text and "offline since" in text and "0 of 2000000" in text
    for code in ("%KDISPATCH", "%P1002", "%D200"):
        show("gun-1", code, agent.capture.scan(code, device="gun-1"))
    nxt = screen.context_rows()[0]["next_stop"]
    assert nxt and screen.context_rows()[0] == {"device": "gun-1", "kind": "dispatch", "operator": "1002",
                                                "operator_name": "Li Qiang", "site": None, "dest": "200",
                                                "shift": None, "next_stop": nxt, "pickup": None, "pickup_left": None}
    show("gun-1", wb(11), agent.capture.scan(wb(11), device="gun-1"))
    text = screen_text(screen)
    assert "DISPATCH" in text and "Li Qiang" in text and f"next stop {nxt}" in text and "█" in text
    assert "(1 pending)" in text and "1 of 2000000" in text
    wait_for(lambda: "connected, last weight 1250 g" in screen_text(screen), what="the scale on screen")
    show("gun-1", "12345", agent.capture.scan("12345", device="gun-1"))
    text = screen_text(screen)
    assert "12345" in text and "not a waybill number: 14 digits starting with 7" in text
    small = screen_text(screen, width=40)                       # a narrow terminal: the word, not art
    assert "REFUSED" in small


# ------------------------------------------------------------------ plain mode as a process
def station_file(tmp_path, broker_url, **extra) -> str:
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "broker": broker_url,
                                    "outbox": str(tmp_path / "st.db"), "staff": ["1002"], **extra}))
    return str(path)


def test_plain_mode_prints_link_and_device_changes(tmp_path, broker, sim_scale):
    cfg = station_file(tmp_path, broker.url, devices=[{"type": "scale", "protocol": "toledo-continuous",
                                                       "port": sim_scale.link.link, "id": "scale-1"}])
    p = subprocess.Popen([sys.executable, CLI, "edge", "run", "--config", cfg, "--stdin"], cwd=ROOT, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=1)
    try:
        assert "running" in read_line(p.stdout, what="the station to start")

        def next_line_with(word):
            while True:
                line = read_line(p.stdout, what=word)
                assert line, f"the station ended before printing {word}"
                if word in line:
                    return line
        first = set()                     # the link's first connection and the scale at start, in any order
        while len(first) < 2:
            line = read_line(p.stdout, what="the link and the scale at start").strip()
            if line.startswith(("link:", "scale scale-1")):
                first.add(line.split(" since ")[0])
        assert first == {"link: online", "scale scale-1: connected, last weight 1250 g"}
        p.stdin.write("%KARRIVE\n%P1002\n" + wb(12) + "\n")
        p.stdin.flush()
        line = next_line_with("accepted")
        assert "(weight 1250 g)" in line and "\a" not in line     # a pipe gets no bells
        broker.stop()
        assert "offline since" in next_line_with("link:")
        sim_scale.unplug()
        assert next_line_with("scale-1: not connected").strip() == "scale scale-1: not connected (reconnecting)"
        p.stdin.write(wb(13) + "\n")
        p.stdin.flush()
        assert "refused: scale not connected" in next_line_with("refused")
        sim_scale.replug()
        assert "scale scale-1: connected" in next_line_with("scale-1: connected")
        broker.start()
        assert "(1 pending)" in next_line_with("link: online since")
    finally:
        p.terminate()
        p.wait(20)


def test_edge_status_shows_devices(tmp_path, broker, sim_scale):
    cfg = station_file(tmp_path, broker.url, devices=[{"type": "scale", "protocol": "toledo-continuous",
                                                       "port": sim_scale.link.link, "id": "scale-1"}])
    p = subprocess.Popen([sys.executable, CLI, "edge", "run", "--config", cfg], cwd=ROOT, text=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = CliRunner()
    from cli import main
    try:
        def status():
            r = run.invoke(main, ["edge", "status", "--config", cfg, "--json"])
            return json.loads(r.output) if r.exit_code == 0 else {}
        st = wait_for(lambda: (s := status()).get("devices") and s["devices"][0]["weight_g"] == 1250 and s,
                      what="the running station's devices")
        assert st["devices"][0]["type"] == "scale" and st["devices"][0]["connected"] is True
        text = run.invoke(main, ["edge", "status", "--config", cfg]).output
        assert "scale scale-1: connected, last weight 1250 g" in text and "online since" in text
        sim_scale.unplug()
        wait_for(lambda: "scale scale-1: not connected" in run.invoke(main, ["edge", "status", "--config", cfg]).output,
                 what="the unplugged scale in edge status")
    finally:
        p.terminate()
        p.wait(20)
    text = run.invoke(main, ["edge", "status", "--config", cfg]).output
    assert "not running" in text and "scale" not in text             # a stopped station shows no devices
    assert json.loads(run.invoke(main, ["edge", "status", "--config", cfg, "--json"]).output)["devices"] is None


# ------------------------------------------------------------------ outbox and delete output
def test_outbox_states_by_name_in_every_format_and_delete_reports_each_id(tmp_path):
    from cli import main
    cfg = station_file(tmp_path, "mqtt://127.0.0.1:1")
    c = capture(tmp_path / "st.db", None)
    c.scan("%KRECEIVE")
    c.scan("%P1002")
    ids = [c.scan(wb(i)).scan["id"] for i in (20, 21, 22)]
    c.outbox.mark_acked([[1, 1]], [{"seq": 2, "reason": "bad site"}], 1_800_000_000_000)
    c.outbox.close()
    run = CliRunner()
    rows = json.loads(run.invoke(main, ["edge", "outbox", "--config", cfg, "--json"]).output)
    assert [r["state"] for r in rows] == ["acked", "rejected", "pending"] and rows[1]["reason"] == "bad site"
    assert json.loads(run.invoke(main, ["edge", "outbox", "--config", cfg, "--format", "json",
                                        "--state", "pending"]).output)[0]["id"] == ids[2]
    csv_text = run.invoke(main, ["edge", "outbox", "--config", cfg, "--format", "csv"]).output.splitlines()
    assert csv_text[0].split(",")[:4] == ["seq", "state", "kind", "waybill"]
    assert [line.split(",")[1] for line in csv_text[1:]] == ["acked", "rejected", "pending"]
    assert "pending" in run.invoke(main, ["edge", "outbox", "--config", cfg]).output
    r = run.invoke(main, ["edge", "delete", "--config", cfg, ids[2], "nope", "--reason", "test", "--json"])
    assert r.exit_code == 1                                          # one of the two failed
    out = json.loads(r.stdout)
    assert [d["id"] for d in out["deleted"]] == [ids[2]] and out["failed"][0]["id"] == "nope"
    r = run.invoke(main, ["edge", "delete", "--config", cfg, ids[0], "--reason", "test"])
    assert r.exit_code == 0 and f"deleted scan {ids[0]}" in r.output


def test_a_rule_description_from_the_network_file_is_the_refusal(tmp_path):
    from contract.waybill import WaybillRule
    rule = WaybillRule.from_dict({"name": "odd", "pattern": "^(AB|CD)+$", "description": "pairs of AB or CD"})
    again = WaybillRules([WaybillRule.from_dict(rule.to_dict()).to_dict()])   # as the slice carries it
    assert again.refusal("XYZ") == "not a waybill number: pairs of AB or CD expected"
    assert WaybillRules([{"name": "odd", "pattern": "^(AB|CD)+$"}]).refusal("XYZ") == \
        "not a waybill number: an odd number expected"


def test_a_bad_sound_command_is_one_line(tmp_path):
    from cli import main
    cfg = station_file(tmp_path, "mqtt://127.0.0.1:1")
    r = CliRunner().invoke(main, ["edge", "run", "--config", cfg, "--error-sound", "'aplay"])
    assert r.exit_code == 2 and "not a command line" in r.output and "Traceback" not in r.output


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=8))
def test_typed_keys_give_clean_lines_whatever_comes(chunks):
    from edge.console import MAX_TYPED, edit
    typed, lines = "", []
    for chunk in chunks:
        typed, done = edit(typed, chunk)
        lines += done
    assert len(typed) <= MAX_TYPED and all(ch.isprintable() for ch in typed)
    assert all(line and line == line.strip() and all(ch.isprintable() for ch in line) for line in lines)


def test_typing_edits_like_a_terminal_line():
    from edge.console import edit
    assert edit("", "70001\x7f2\r") == ("", ["70002"])
    assert edit("", "junk\x15%KARRIVE\n\n%P1002\r\nabc") == ("abc", ["%KARRIVE", "%P1002"])


def test_forecast_lists_its_rows_as_csv_and_json(tmp_path):
    from cli import main
    cfg = station_file(tmp_path, "mqtt://127.0.0.1:1")
    c = capture(tmp_path / "st.db", None)
    c.outbox.set_meta("forecast", json.dumps({"generated_ms": 1, "waybills": [wb(30), wb(31)]}))
    c.scan("%KDISPATCH")
    c.scan("%P1002")
    c.scan("%S900")
    assert c.scan(wb(31)).accepted and c.scan(wb(32)).accepted
    c.outbox.close()
    run = CliRunner()
    r = run.invoke(main, ["edge", "forecast", "--config", cfg, "--format", "csv"])
    assert r.exit_code == 0 and r.output.splitlines() == ["waybill,problem", f"{wb(30)},missing", f"{wb(32)},extra"]
    res = json.loads(run.invoke(main, ["edge", "forecast", "--config", cfg, "--format", "json"]).output)
    assert res["missing"] == [wb(30)] and res["extra"] == [wb(32)]
    assert json.loads(run.invoke(main, ["edge", "forecast", "--config", cfg, "--json"]).output) == res
