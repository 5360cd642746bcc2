"""The outbound dialer on a simulated clock: predictive pacing against progressive on the same
traffic, compliance in the dial path over random lists, windows and clocks, every dial recorded."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hub.outbound import simulate
from hub.outbound.campaign import check_campaign
from hub.outbound.engine import Contact, Dial
from hub.outbound.errors import CampaignError, OutboundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def campaign(mode, agents=10, **over):
    doc = {"name": "t", "mode": mode, "window": {"mon-sun": ["00:00-24:00"]},
           "agents": [f"a{i}" for i in range(agents)], "abandon_message": "abandon.wav", "max_attempts": 3,
           "min_spacing_min": 30, "wrapup_s": 5, "dispositions": [{"code": "done", "final": True}],
           "flow": "notice.yaml"}
    doc.update(over)
    return check_campaign(doc)


def numbers(n, start=0):
    return [Contact(f"+86138{i:08d}") for i in range(start, start + n)]


def test_predictive_keeps_abandons_under_the_cap_and_agents_busier_than_progressive():
    traffic = simulate.Traffic(answer_rate=0.35, talk_s=90, seed=7)
    prog = simulate.run(campaign("progressive"), numbers(4000), traffic, 150).figures
    pred = simulate.run(campaign("predictive"), numbers(4000), traffic, 150).figures
    assert prog["abandoned"] == 0                              # one call per free agent never abandons
    assert pred["answered"] > 300                              # enough answered calls for a rate
    assert pred["abandon_rate"] < 0.03, pred
    assert pred["occupancy"] > prog["occupancy"] * 1.05, (pred, prog)


def test_every_abandoned_call_hears_the_identifying_message():
    res = simulate.run(campaign("predictive", pacing={"abandon_cap": 0.2, "backoff_at": 1.0}), numbers(2000),
                       simulate.Traffic(answer_rate=0.6, talk_s=120, seed=3), 60)
    abandons = [a for a in res.actions if type(a).__name__ == "Abandon"]
    recorded = [r for r in res.records if r["kind"] == "attempt" and r["outcome"] == "abandoned"]
    assert abandons and len(abandons) == len(recorded)
    assert all(a.message == "abandon.wav" for a in abandons)
    for r in recorded:                                         # waited exactly the 2 s allowed
        assert r["ended_ms"] - r["answered_ms"] == 2000


@pytest.mark.parametrize("mode", ["preview", "progressive", "predictive", "agentless"])
def test_every_dialled_number_has_its_outcome_in_the_records(mode):
    c = campaign(mode, survey={"questions": [{"id": "q1", "kind": "score"}]})
    res = simulate.run(c, numbers(300), simulate.Traffic(answer_rate=0.4, machine_rate=0.1, seed=2), 40)
    dials = [a.call for a in res.actions if isinstance(a, Dial)]
    attempts = {r["call"]: r for r in res.records if r["kind"] == "attempt"}
    in_progress = set(res.dialer.calls)
    assert dials and set(dials) == set(attempts) | in_progress
    assert len(dials) == len(set(dials))
    assert all(r["outcome"] in c.outcomes() + ["answered"] for r in attempts.values())
    if mode == "agentless":
        assert any(r["answers"] for r in attempts.values())


window_ranges = st.lists(st.tuples(st.integers(0, 23 * 60), st.integers(1, 12 * 60)), min_size=1, max_size=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), days=st.sets(st.sampled_from(DAYS), min_size=1), ranges=window_ranges,
       start=st.integers(1_700_000_000_000, 1_800_000_000_000), n=st.integers(1, 40),
       mode=st.sampled_from(["progressive", "predictive", "agentless"]))
def test_no_listed_number_and_none_outside_its_window_is_ever_dialled(data, days, ranges, start, n, mode):
    hhmm = [f"{a // 60:02d}:{a % 60:02d}-{min(24 * 60, a + d) // 60:02d}:{min(24 * 60, a + d) % 60:02d}"
            for a, d in ranges]
    window = {d: hhmm for d in days}
    zones = ["Asia/Shanghai", "America/New_York", "Europe/London", "Asia/Kolkata"]
    contacts = numbers(n)
    for ct in contacts:
        ct.tz = data.draw(st.sampled_from(zones + [""]))
    listed = {ct.number for ct in contacts if data.draw(st.booleans())}
    holiday = data.draw(st.booleans())
    cal = None
    c = campaign(mode, agents=3, window=window, max_attempts=data.draw(st.integers(1, 3)),
                 min_spacing_min=data.draw(st.integers(0, 120)), lines=3)
    if holiday:                                   # one random day of the run is a holiday everywhere
        day = dt.date.fromtimestamp(start / 1000) + dt.timedelta(days=data.draw(st.integers(0, 2)))
        from hub.ivr.schedule import Calendar
        cal = {day}
        c.window.calendar = Calendar(holidays={day: "test"})
    dialled = []

    def oracle(ms, dial):
        assert dial.number not in listed, f"{dial.number} is on a DNC list"
        ct = next(x for x in contacts if x.number == dial.number)
        local = dt.datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(ct.tz or c.timezone)).replace(tzinfo=None)
        assert not cal or local.date() not in cal, "dialled on a holiday"
        assert DAYS[local.weekday()] in days, f"{local} is not a calling day"
        minute = local.hour * 60 + local.minute
        assert any(a <= minute < a + d for a, d in ranges), f"{local} is outside the window"
        dialled.append((ms, dial.number))

    res = simulate.run(c, contacts, simulate.Traffic(answer_rate=0.5, seed=1), 60 * 24 * 3, start_ms=start,
                       dnc=lambda num: "internal" if num in listed else None, on_dial=oracle)
    for num in {x for _, x in dialled}:                         # attempts and spacing per number
        times = sorted(t for t, x in dialled if x == num)
        assert len(times) <= c.max_attempts
        assert all(b - a >= c.min_spacing_min * 60_000 for a, b in zip(times, times[1:]))
    refused = {r["number"]: r["reason"] for r in res.records if r["kind"] == "refusal"}
    for num in listed:
        assert refused.get(num, "dnc:internal") == "dnc:internal"


def test_a_dnc_disposition_stops_further_calls_and_a_callback_comes_back_to_its_agent():
    c = campaign("progressive", agents=1, dispositions=[{"code": "stop", "dnc": True},
                                                          {"code": "later", "callback": True}])
    now = [simulate.START_MS]
    from hub.outbound.engine import Dialer
    records = []
    d = Dialer(c, numbers(2), lambda: now[0], log=records.extend)
    first = d.login("a0")
    assert [type(a).__name__ for a in first] == ["Dial"] and first[0].agent == "a0"
    d.answered(first[0].call)
    now[0] += 30_000
    d.hangup(first[0].call, "later", callback_ms=now[0] + 3_600_000, same_agent=True)
    now[0] += 10_000
    second = d.tick()
    assert [a.number for a in second if isinstance(a, Dial)] == ["+8613800000001"]
    d.answered(second[0].call)
    d.hangup(second[0].call, "stop")
    now[0] += 3_600_000
    third = d.tick()
    assert [a.number for a in third if isinstance(a, Dial)] == ["+8613800000000"]     # the callback
    d.failed(third[0].call, "busy")
    assert d.extra_dnc == {"+8613800000001"}
    other = Dialer(c, numbers(1, start=5), lambda: now[0])
    dial = other.login("a0")[0]
    other.answered(dial.call)
    with pytest.raises(OutboundError, match="not a disposition"):
        other.hangup(dial.call, "no-such-code")


def test_a_drained_dialer_dials_no_more_and_finishes_when_its_calls_end():
    from hub.outbound.engine import Dialer
    now = [simulate.START_MS]
    d = Dialer(campaign("progressive", agents=1), numbers(5), lambda: now[0])
    (dial,) = d.login("a0")
    assert d.drain() == [] and not d.finished()
    d.answered(dial.call)
    now[0] += 1000
    assert not [a for a in d.hangup(dial.call, "done") if isinstance(a, Dial)]
    now[0] += 10_000                                            # wrap-up over: still nothing dialled
    assert d.tick() == [] and d.finished()


def test_an_agent_whose_seat_fails_is_logged_out_and_the_call_goes_to_another_or_is_abandoned():
    from hub.acd.agents import LOGGED_OUT
    from hub.outbound.engine import Abandon, Connect, Dialer
    now = [simulate.START_MS]
    d = Dialer(campaign("predictive", agents=2, max_attempts=1), numbers(40), lambda: now[0])
    dials = d.login("a0") + d.login("a1")
    calls = [a.call for a in dials if isinstance(a, Dial)]
    assert len(calls) >= 2
    (first,) = [a for a in d.answered(calls[0]) if isinstance(a, Connect)]
    now[0] += 300
    (again,) = [a for a in d.connect_failed(calls[0]) if isinstance(a, Connect)]
    assert d.agents[first.agent].state == LOGGED_OUT and again.agent != first.agent and again.call == calls[0]
    now[0] += 300
    assert not [a for a in d.connect_failed(calls[0]) if isinstance(a, (Connect, Abandon))]
    assert d.calls[calls[0]].state == "waiting"                 # nobody left: it waits
    now[0] += 1500                                              # 2.1 s after the answer
    (gone,) = [a for a in d.tick() if isinstance(a, Abandon)]
    assert gone.call == calls[0] and d.pacer.abandon_rate(now[0]) == 1.0


def test_a_live_call_ends_with_the_campaign_default_disposition():
    c = campaign("progressive", default_disposition="done")
    assert c.default_disposition == "done"
    with pytest.raises(CampaignError, match="default_disposition 'nope' is not one of the dispositions"):
        campaign("progressive", default_disposition="nope")


def test_the_campaign_check_lists_every_problem_with_its_place():
    with pytest.raises(CampaignError) as e:
        check_campaign({"name": "two words", "mode": "robot", "window": {"mon-fry": ["9-5"]}, "agents": [],
                        "pacing": {"abandon_cap": 0.9, "speed": 1}, "recycle": {"sale": 5},
                        "dispositions": [{"code": "busy"}], "survey": {"questions": [{"id": "q", "kind": "stars"}]},
                        "colour": "red"})
    text = str(e.value)
    for part in ("unknown key 'colour'", "name must be one word", "mode 'robot'", "'mon-fry' is not a weekday",
                 "abandon_cap must be", "pacing: unknown key 'speed'", "recycle: 'sale'",
                 "code 'busy' is already an outcome", "kind must be score"):
        assert part in text, part


def test_lists_are_deduplicated_by_the_normalised_number(tmp_path):
    from hub.outbound import lists
    p = tmp_path / "list.csv"
    p.write_text("phone,name,tier\n138 0013 8000,Wang,gold\n+86 13800138000,Wang again,\n12,bad,\n"
                 "0086 13900139000,Li,\n", encoding="utf-8")
    problems = []
    got = lists.load({"source": "csv", "path": "list.csv"}, str(tmp_path), problems)
    assert [(c.number, c.name, c.fields) for c in got] == [("+8613800138000", "Wang", {"tier": "gold"}),
                                                           ("+8613900139000", "Li", {})]
    assert len(problems) == 2 and "row 2" in problems[0] and "row 3" in problems[1]
    with pytest.raises(OutboundError, match="no phone column"):
        (tmp_path / "x.csv").write_text("a,b\n1,2\n")
        lists.load({"source": "csv", "path": "x.csv"}, str(tmp_path))


def test_orders_are_reviewed_against_supply_and_the_retailers_limits():
    from hub.outbound.ordering import check_rules, review
    rules = {"supply": {"cig-a": 30, "cig-b": 5}, "limits": {"default": {"cig-a": [1, 20]}, "gold": {"cig-a": [1, 40]}}}
    assert check_rules(rules) == []
    assert review({"cig-a": 10}, rules) == []
    assert review({"cig-a": 25}, rules) == ["cig-a: 25 is outside the retailer's limits 1-20"]
    assert review({"cig-a": 25}, rules, tier="gold") == []
    assert review({"cig-a": 25}, rules, tier="gold", taken={"cig-a": 10}) == ["cig-a: 25 asked, 20 left of the supply"]
    assert review({"cig-b": 1}, rules) == ["cig-a: at least 1 must be ordered"]
    assert review({"cig-c": 1, "cig-a": 1}, rules) == ["cig-c: not supplied this round"]
    assert check_rules({"limits": {"default": {"x": [5, 1]}}})


# ---------------------------------------------------------------- the rolling window over restarts

HOUR = 3_600_000


def earlier_day(now_ms, answered, abandoned_at=(), hours=10, unanswered_per_call=2, call="old"):
    """Attempt records of the campaign's earlier hours, as the store gives them back: ``answered``
    calls answered by a person over ``hours`` before ``now_ms`` (those at the indexes
    ``abandoned_at`` abandoned, the others connected and talked 60 s), each after
    ``unanswered_per_call`` calls that rang out."""
    out, step = [], hours * HOUR // max(1, answered)
    for i in range(answered):
        t = now_ms - hours * HOUR + i * step
        for j in range(unanswered_per_call):
            out.append({"kind": "attempt", "call": f"{call}-{i}-{j}", "outcome": "no-answer", "reason": "no-answer",
                        "placed_ms": t + j * 30_000, "answered_ms": None, "connected_ms": None,
                        "ended_ms": t + j * 30_000 + 25_000})
        p = t + unanswered_per_call * 30_000
        if i in abandoned_at:
            out.append({"kind": "attempt", "call": f"{call}-{i}", "outcome": "abandoned", "reason": "no agent",
                        "placed_ms": p, "answered_ms": p + 8000, "connected_ms": None, "ended_ms": p + 10_000})
        else:
            out.append({"kind": "attempt", "call": f"{call}-{i}", "outcome": "done", "reason": "",
                        "placed_ms": p, "answered_ms": p + 8000, "connected_ms": p + 8500, "ended_ms": p + 68_500})
    return out


@pytest.mark.parametrize("resolved,abandoned,at_risk", [(100, 2, False), (100, 3, True), (60, 0, False),
                                                        (60, 1, True)])
def test_a_dialer_restored_from_the_records_keeps_their_abandon_rate_and_paces_by_it(resolved, abandoned, at_risk):
    """N person-answered calls of the earlier hours, k of them abandoned: the restored dialer's
    rate is k/N; when one more abandon would put it over the 3 % it dials only for the agents who
    are free (one line each), otherwise more."""
    from hub.outbound.engine import Dialer
    now = [simulate.START_MS + 12 * HOUR]
    history = earlier_day(now[0], resolved, abandoned_at=range(5, 5 + 7 * abandoned, 7))
    d = Dialer(campaign("predictive", agents=4, max_attempts=1), numbers(40), lambda: now[0], history=history)
    assert d.pacer.window(now[0]) == (resolved, abandoned)
    assert d.status()["abandon_rate"] == pytest.approx(abandoned / resolved)
    assert d.pacer.answer_rate() == pytest.approx(1 / 3, abs=0.01)      # restored too: one call in three
    assert d.pacer.talk_ms() == 60_000 and d.pacer.ring_ms() == 8000
    assert d.pacer.at_risk(now[0]) is at_risk
    dials = [a for ag in d.agents for a in d.login(ag) if isinstance(a, Dial)]
    if at_risk:
        assert len(dials) == 4                                  # one per free agent: cannot abandon
    else:
        assert len(dials) > 4


def test_history_older_than_the_window_is_ignored():
    from hub.outbound.engine import Dialer
    now = simulate.START_MS + 30 * HOUR
    today = earlier_day(now, 80, hours=8)
    yesterday = earlier_day(now - 25 * HOUR, 40, abandoned_at=range(10), hours=10, call="yesterday")
    d = Dialer(campaign("predictive", agents=2), numbers(10), lambda: now, history=yesterday + today)
    assert d.pacer.window(now) == (80, 0)
    assert len(d.pacer.results) == min(200, 3 * 80)              # no sample from yesterday either
    assert not d.pacer.at_risk(now)
    # the same abandons inside the window put it at risk
    inside = earlier_day(now, 40, abandoned_at=range(10), hours=10, call="inside")
    d = Dialer(campaign("predictive", agents=2), numbers(10), lambda: now, history=inside + today)
    assert d.pacer.window(now) == (120, 10) and d.pacer.at_risk(now)
    # a call placed after the instant the dialer starts (a wrong clock) is not heard either
    later = earlier_day(now + 2 * HOUR, 5, hours=1, call="later")
    assert Dialer(campaign("predictive"), [], lambda: now, history=later).pacer.window(now) == (0, 0)


KINDS = ("no-answer", "busy", "machine", "connected", "abandoned", "dropped")
call_spec = st.tuples(st.sampled_from(KINDS), st.integers(100, 30_000), st.integers(0, 1999),
                      st.integers(1000, 600_000))


def call_records(specs, starts, prefix):
    """Attempt records of calls (kind, ring ms, wait ms, talk ms) placed at ``starts``."""
    from hub.outbound.engine import WAITED_DROP
    out = []
    for i, ((kind, ring, wait, talk), placed) in enumerate(zip(specs, starts)):
        answered = placed + ring
        r = {"kind": "attempt", "call": f"{prefix}{i}", "placed_ms": placed, "answered_ms": None,
             "connected_ms": None, "reason": "", "outcome": kind}
        if kind in ("no-answer", "busy"):
            r["ended_ms"] = answered
        elif kind == "machine":
            r.update(answered_ms=answered, ended_ms=answered + wait)
        elif kind == "connected":
            r.update(outcome="done", answered_ms=answered, connected_ms=answered + wait,
                     ended_ms=answered + wait + talk)
        elif kind == "abandoned":
            r.update(answered_ms=answered, ended_ms=answered + 2000)
        else:
            r.update(answered_ms=answered, ended_ms=answered + wait, reason=WAITED_DROP)
        out.append(r)
    return out


def hear_live(pacer, records, query_at=None):
    """Feed the calls of ``records`` to ``pacer`` through its live steps, every event in time order."""
    events = []
    for i, r in enumerate(records):
        key = (r["call"], r["placed_ms"])
        person = r["answered_ms"] is not None and r["outcome"] != "machine"
        at = r["answered_ms"] if r["answered_ms"] is not None else r["ended_ms"]
        events.append((at, r["placed_ms"], 0, i, lambda p=person, ring=at - r["placed_ms"], k=key:
                       pacer.dial_result(p, ring, call=k)))
        if person and r["connected_ms"] is not None:
            events.append((r["connected_ms"], r["placed_ms"], 1, i, lambda t=r["connected_ms"], k=key:
                           pacer.resolved_call(t, False, call=k)))
            events.append((r["ended_ms"], r["placed_ms"], 2, i, lambda ms=r["ended_ms"] - r["connected_ms"], k=key:
                           pacer.talk(ms, call=k)))
        elif person:
            events.append((r["ended_ms"], r["placed_ms"], 1, i, lambda t=r["ended_ms"], k=key:
                           pacer.resolved_call(t, True, call=k)))
    for t, *_, fn in sorted(events, key=lambda e: e[:4]):
        fn()
        if query_at is not None:
            pacer.at_risk(t)                      # the dialer asks between events: it changes nothing


def pacer_state(pacer, now_ms):
    window = pacer.window(now_ms)
    return {"resolved": list(pacer.resolved), "window": window, "rate": pacer.abandon_rate(now_ms),
            "at_risk": pacer.at_risk(now_ms), "aggressiveness": pacer.aggressiveness,
            "results": list(pacer.results), "talks": list(pacer.talks), "rings": list(pacer.rings),
            "lines": pacer.lines(now_ms, ready=3, talking_ms=[20_000, 90_000], wrap_left_ms=[2000], in_flight=1)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), before=st.lists(call_spec, max_size=120), after=st.lists(call_spec, max_size=120),
       cap=st.sampled_from([0.03, 0.1]))
def test_a_pacer_restored_from_history_then_live_is_the_pacer_that_heard_it_all_live(data, before, after, cap):
    """Restoring the records of the calls before a restart, then hearing the calls after it live,
    gives the state of a pacer that heard every call live in order (window, rate, samples,
    aggressiveness, the decision); restoring again, or the records of calls heard live, changes
    nothing: no call is counted twice."""
    from hub.outbound.campaign import Pacing
    from hub.outbound.engine import past_calls
    from hub.outbound.pacing import Pacer
    pacing = Pacing(abandon_cap=cap, window_h=1, min_samples=5)          # restarts more than a window apart too
    split = simulate.START_MS
    span = HOUR - 700_000                                                # placed in the window, ended before the split
    old = call_records(before, [split - HOUR + data.draw(st.integers(0, span)) for _ in before], "c")
    old = [r for r in old if r["ended_ms"] <= split]
    new = call_records(after, [split + data.draw(st.integers(1, 3 * HOUR)) for _ in after], "c")   # ids used again
    end = max([split] + [r["ended_ms"] for r in new])

    live = Pacer(pacing)
    hear_live(live, old, query_at=True)
    restored = Pacer(pacing)
    assert restored.restore(past_calls(old), split) == len(old)
    assert pacer_state(restored, split) == pacer_state(live, split)
    assert restored.restore(past_calls(old), split) == 0                 # once only
    hear_live(live, new, query_at=True)
    hear_live(restored, new)
    assert pacer_state(restored, end) == pacer_state(live, end)
    before_again = pacer_state(restored, end)
    assert restored.restore(past_calls(old + new), end) == 0             # the records of calls it heard
    assert pacer_state(restored, end) == before_again


@pytest.mark.parametrize("seed,amd", [(11, False), (12, True), (13, True)])
def test_the_records_of_a_run_tell_the_pacer_what_it_heard_live(seed, amd):
    """The dialer's own records, read back (``past_calls``), restore exactly the window and
    samples its live pacer has: connected, abandoned and dropped calls, machines (hung up or
    leaving a message), calls that rang out."""
    from hub.outbound.engine import past_calls
    from hub.outbound.pacing import Pacer
    over = {"amd": {"enabled": True, "on_machine": "leave-message"}} if amd else {}
    c = campaign("predictive", agents=4, max_attempts=1, pacing={"abandon_cap": 0.2, "backoff_at": 1.0}, **over)
    res = simulate.run(c, numbers(300), simulate.Traffic(answer_rate=0.5, machine_rate=0.15 if amd else 0,
                                                         talk_s=40, seed=seed), 300)
    assert not res.dialer.calls                                          # the list is done, every call recorded
    attempts = [r for r in res.records if r["kind"] == "attempt"]
    assert any(r["outcome"] == "abandoned" for r in attempts)
    end = max(r["ended_ms"] for r in attempts)
    live = res.dialer.pacer
    restored = Pacer(c.pacing)
    restored.restore(past_calls(attempts), end)
    assert sorted(restored.resolved) == sorted(live.resolved) and restored.window(end) == live.window(end)
    for samples in ("results", "talks", "rings"):
        assert sorted(getattr(restored, samples)) == sorted(getattr(live, samples)), samples
    assert restored.aggressiveness == pytest.approx(live.aggressiveness)
