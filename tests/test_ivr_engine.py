"""The IVR engine: a pure state machine driven by events; schedules, invalid keys and timeouts
follow the flow, and every walk ends in a transfer, a hang-up or voicemail."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.ivr.engine import Engine
from hub.ivr.flow import load_flow
from test_ivr_flow import SAMPLE_FLOW

FLOW = load_flow(SAMPLE_FLOW)
CST = dt.timezone(dt.timedelta(hours=8))


class Clock:
    def __init__(self, local: str):
        self.ms = int(dt.datetime.fromisoformat(local).replace(tzinfo=CST).timestamp() * 1000)

    def __call__(self):
        return self.ms


def call(local="2026-12-02 10:00", flow=FLOW):
    clock = Clock(local)
    e = Engine(flow, clock=clock)
    return e, clock, e.start("13800000000", "95311")


def plays(actions):
    return [p for a in actions if a["action"] == "play" for p in a["prompts"]]


def test_open_hours_greet_then_ask_the_main_menu():
    e, clock, acts = call("2026-12-02 10:00")          # a Wednesday
    assert acts == [{"action": "play", "prompts": ["welcome", "promo"], "barge_in": False}]
    assert e.digit("1") == []                          # no barge-in on the greeting: ignored
    acts = e.prompt_done()
    assert acts == [{"action": "play", "prompts": ["main_menu"], "barge_in": True},
                    {"action": "collect", "max_digits": 1, "min_digits": 1, "terminator": "", "timeout_ms": 5000}]
    assert e.path == ["hours", "welcome", "main"]


def test_closed_break_holiday_and_make_up_working_days():
    assert call("2026-12-02 20:00")[0].path == ["hours", "closed"]
    assert call("2026-12-02 12:30")[0].path == ["hours", "break_time"]
    assert call("2026-10-01 10:00")[0].path == ["hours", "holiday"]          # National Day
    assert call("2026-10-10 08:45")[0].path[:2] == ["hours", "welcome"]      # a Saturday worked as a Monday
    assert call("2026-10-17 08:45")[0].path == ["hours", "closed"]           # an ordinary Saturday, before 09:00
    e, _, acts = call("2026-12-02 03:00")
    assert plays(acts) == ["closed"]
    assert plays(e.prompt_done()) == ["closed_menu"]


def test_invalid_keys_replay_the_menu_then_the_flow_gives_up_as_written():
    e, clock, _ = call()
    e.prompt_done()
    a = e.digit("7")
    assert plays(a) == ["invalid_key", "main_menu"] and a[-1]["action"] == "collect"
    e.timeout()
    a = e.digit("8")                                   # third failure: retries 3 -> exhausted: agent
    assert a[-1] == {"action": "transfer", "to": "queue", "target": "service"}
    assert plays(a) == ["transfer_agent"]
    assert e.result["end"] == "transfer" and e.ended
    kinds = [t["event"] for t in e.trail if t["event"] in ("invalid", "no_input", "exhausted")]
    assert kinds == ["invalid", "no_input", "invalid", "exhausted"]
    assert e.digit("1") == [] and e.timeout() == []    # after the end nothing happens


def test_collect_takes_digits_up_to_the_terminator_and_times_each_step():
    e, clock, _ = call()
    e.prompt_done()
    for k in "21":
        clock.ms += 1500
        e.digit(k)
    assert e.node == "waybill"
    for k in "70000000000016":
        clock.ms += 300
        assert e.digit(k) == []
    clock.ms += 300
    e.digit("#")
    assert e.variables["waybill"] == "70000000000016"
    assert e.path[-2:] == ["track", "track_again"]      # no self-service here: track fails on to track_again
    keys = [(t["ms"], t["key"]) for t in e.trail if t["event"] == "digit"]
    assert len(keys) == 17 and keys == sorted(keys, key=lambda k: k[0]) and keys[-1][1] == "#"
    assert e.trail[0]["event"] == "start" and e.trail[0]["caller"] == "13800000000"


def test_too_few_digits_is_an_invalid_entry_and_a_timeout_after_enough_digits_accepts():
    e, clock, _ = call()
    e.prompt_done()
    e.digit("2"), e.digit("1")
    for k in "123#":
        a = e.digit(k)
    assert plays(a) == ["invalid_key", "enter_waybill"] and e.node == "waybill"
    for k in "7000000000":
        e.digit(k)
    e.timeout()                                         # 10 digits: enough, the timeout ends the entry
    assert e.variables["waybill"] == "7000000000"


def test_voicemail_records_and_hands_over_what_to_store():
    e, clock, _ = call()
    e.prompt_done()
    e.digit("2")
    a = e.digit("3")
    assert plays(a) == ["leave_message"]
    assert a[-1] == {"action": "record", "box": "complaints", "max_ms": 120_000, "stop_key": "#", "beep": True}
    assert e.digit("#") == [{"action": "stop_recording"}]
    clock.ms += 30_000
    a = e.recorded("/tmp/msg.wav", 29_000)
    save = a[0]
    assert save["action"] == "save_voicemail" and save["box"] == "complaints" and save["caller"] == "13800000000"
    assert save["menu_path"] == ["hours", "welcome", "main", "query", "complaint"]
    assert save["recorded_ms"] == clock.ms and save["duration_ms"] == 29_000
    assert plays(a) == ["message_saved"] and a[-1] == {"action": "hangup"}
    assert e.result == {"end": "voicemail", "box": "complaints", "node": "complaint"}


def test_the_caller_hanging_up_ends_the_walk():
    e, clock, _ = call()
    assert e.hangup() == [] and e.result["end"] == "caller_hangup" and e.ended
    assert e.trail[-1]["event"] == "hangup"


EVENTS = st.lists(st.one_of(st.sampled_from(list("0123456789*#")), st.just("timeout"), st.just("done"),
                            st.just("recorded")), max_size=60)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.integers(0, 366 * 24 * 60 - 1))
def test_every_walk_ends_in_a_transfer_a_hang_up_or_voicemail(events, minute):
    clock = Clock("2026-01-01 00:00")
    clock.ms += minute * 60_000
    e = Engine(FLOW, clock=clock)
    e.start("13800000000", "95311")
    for ev in events:
        clock.ms += 700
        node, kind, tries = e.node, FLOW.nodes[e.node]["type"], e.tries
        if ev == "timeout":
            waiting = e.phase in ("collecting", "playing") and kind in ("menu", "collect") and not e.digits
            before = len(e.path)
            e.timeout()
            if waiting:                                 # a silence counts as a try, as the flow says
                if tries + 1 >= FLOW.nodes[node]["retries"]:
                    assert e.path[before] == FLOW.nodes[node]["exhausted"]
                else:
                    assert e.node == node and e.tries == tries + 1
        elif ev == "done":
            e.prompt_done()
        elif ev == "recorded":
            e.recorded("", 0)
        else:
            before = len(e.path)
            collecting = e.phase in ("collecting", "playing") and kind == "menu"
            e.digit(ev)
            if collecting:                              # a menu key goes where the flow says
                target = FLOW.nodes[node]["keys"].get(ev)
                if target is not None:
                    assert e.path[before] == target
                elif tries + 1 >= FLOW.nodes[node]["retries"]:
                    assert e.path[before] == FLOW.nodes[node]["exhausted"]
                else:
                    assert e.node == node and e.tries == tries + 1
        if e.ended:
            break
    # a caller who now says nothing is brought to an end by the flow itself
    for _ in range(100):
        if e.ended:
            break
        clock.ms += 10_000
        if e.phase == "recording":
            e.recorded("", 0)
        elif e.phase == "playing" and FLOW.nodes[e.node]["type"] not in ("menu", "collect"):
            e.prompt_done()
        else:
            e.prompt_done()
            e.timeout()
    assert e.ended
    assert e.result["end"] in ("transfer", "hangup", "voicemail", "caller_hangup")
    assert e.result.get("reason") != "loop guard"
    times = [t["ms"] for t in e.trail]
    assert times == sorted(times)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 366 * 24 * 60 - 1))
def test_the_schedule_agrees_with_a_plain_reading_of_the_sample_hours(minute):
    """hotline.yaml: Mon-Fri 08:30-18:00, Sat-Sun 09:00-17:00, breaks 12:00-13:00, and its calendar."""
    import yaml
    ms = Clock("2026-01-01 00:00").ms + minute * 60_000
    local = dt.datetime.fromtimestamp(ms / 1000, CST)
    cal = yaml.safe_load(open(SAMPLE_FLOW.replace("hotline.yaml", "holidays-2026.yaml"), encoding="utf-8"))
    holidays = set()
    for h in cal["holidays"]:
        a, b = h.get("date", h.get("from")), h.get("date", h.get("to"))
        holidays |= {a + dt.timedelta(days=k) for k in range((b - a).days + 1)}
    workdays = {w["date"] for w in cal["workdays"]}
    hm = local.hour * 60 + local.minute
    if local.date() in holidays:
        want = "holiday"
    else:
        weekday = local.weekday() < 5 or local.date() in workdays
        lo, hi = (510, 1080) if weekday else (540, 1020)
        want = "closed" if not lo <= hm < hi else "break" if 720 <= hm < 780 else "open"
    assert FLOW.schedules["office"].state(ms, 480) == want


def test_variables_set_and_branch_choose_where_a_call_goes(tmp_path):
    from hub.ivr.flow import check_flow
    flow = check_flow({
        "start": "vip", "variables": {"tier": "gold"},
        "prompts": {"p": "您好"},
        "nodes": {
            "vip": {"type": "branch", "var": "caller", "cases": {"13800000000": "mark"}, "default": "route"},
            "mark": {"type": "set", "vars": {"tier": "diamond", "queue": "q-{tier}"}, "next": "route"},
            "route": {"type": "branch", "var": "tier", "cases": {"diamond": "fast"}, "default": "normal"},
            "fast": {"type": "transfer", "queue": "{queue}", "play": [{"say": "digits", "var": "caller"}]},
            "normal": {"type": "transfer", "number": "{callee}"},
        }}, "inline")
    e = Engine(flow, clock=lambda: 0)
    a = e.start("13800000000", "95311")
    assert a[-1] == {"action": "transfer", "to": "queue", "target": "q-diamond"}   # set in order: tier first
    assert plays(a)[:2] == ["digit/1", "digit/3"] and e.variables["tier"] == "diamond"
    e = Engine(flow, clock=lambda: 0)
    assert e.start("13900000000", "95311")[-1] == {"action": "transfer", "to": "number", "target": "95311"}
    assert [t["to"] for t in e.trail if t["event"] == "branch"] == ["route", "normal"]


def test_a_caller_who_hangs_up_after_the_message_still_leaves_it():
    e, clock, _ = call()
    e.prompt_done()
    e.digit("2")
    e.digit("3")
    assert e.hangup() == [] and e.ended and e.result["end"] == "caller_hangup"
    a = e.recorded("/tmp/m.wav", 5000)
    assert [x["action"] for x in a] == ["save_voicemail"] and a[0]["box"] == "complaints"
    assert e.result == {"end": "voicemail", "box": "complaints", "node": "complaint", "caller_hung_up": True}
    assert e.recorded("/tmp/m.wav", 5000) == []              # kept once
    e, clock, _ = call()
    e.hangup()
    assert e.recorded("/tmp/m.wav", 5000) == []              # no recording was going on
