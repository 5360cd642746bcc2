"""The ACD engine: strategies, states, timers, and its invariants under random event orders."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.acd.agents import PAUSED, READY, RINGING, TALKING, WRAPUP, AgentStateError, Agent
from hub.acd.config import STRATEGIES, Target, parse_queues
from hub.acd.engine import Announce, Bridge, Engine, Refuse, Ring, Route, StopRing
from hub.acd.errors import AcdError, ConfigError
from hub.acd.queue_log import MISSED


class Clock:
    def __init__(self, t=1_700_000_000_000):
        self.t = t

    def __call__(self):
        return self.t


def centre(strategy="leastrecent", n=3, **q):
    agents = [{"id": f"a{i}", "skills": ["parcel"] if i % 2 == 0 else []} for i in range(n)]
    queue = {"name": "q", "strategy": strategy, "members": [{"agent": f"a{i}"} for i in range(n)], **q}
    return parse_queues({"agents": agents, "queues": [queue]})


def make(strategy="leastrecent", n=3, **q):
    clock, log = Clock(), []
    eng = Engine(centre(strategy, n, **q), clock, log=log.extend)
    return eng, clock, log


def rings(actions):
    return [a.agent for a in actions if isinstance(a, Ring)]


def events(log):
    return [e.event for e in log]


def test_leastrecent_rings_the_agent_whose_last_call_ended_longest_ago():
    eng, clock, log = make("leastrecent")
    for a in ("a0", "a1", "a2"):
        eng.login(a)
    for i, agent in enumerate(["a0", "a1"]):
        r = eng.join(f"c{i}", "q", "1380000000")
        assert rings(r) == [agent]
        eng.answered(agent, f"c{i}")
        clock.t += 1000
        eng.hangup(f"c{i}")
    # a2 never took a call: it is the least recent; then a0 (ended first)
    assert rings(eng.join("c3", "q")) == ["a2"]
    assert rings(eng.join("c4", "q")) == ["a0"]


def test_ringall_rings_every_free_agent_and_the_first_answer_wins():
    eng, clock, log = make("ringall")
    for a in ("a0", "a1", "a2"):
        eng.login(a)
    assert sorted(rings(eng.join("c", "q"))) == ["a0", "a1", "a2"]
    out = eng.answered("a1", "c")
    assert Bridge("c", "a1") in out
    assert {s.agent for s in out if isinstance(s, StopRing)} == {"a0", "a2"}
    assert eng.answered("a0", "c") == [Refuse("a0", "c")]          # too late: refused, nothing changes
    assert eng.agents["a0"].state == READY and eng.agents["a1"].state == TALKING
    assert eng.check() == []


def test_round_robin_linear_and_top_down_orders():
    for strategy, expect in (("rrmemory", ["a0", "a1", "a2", "a0"]), ("linear", ["a0", "a0", "a0", "a0"]),
                             ("rrordered", ["a0", "a1", "a2", "a0"])):
        eng, clock, _ = make(strategy)
        for a in ("a0", "a1", "a2"):
            eng.login(a)
        got = []
        for i in range(4):
            got += rings(eng.join(f"c{i}", "q"))
            eng.answered(got[-1], f"c{i}")
            eng.hangup(f"c{i}")
        assert got == expect, strategy


def test_tiers_widen_with_waiting_time_and_penalties_rules():
    c = parse_queues({"agents": [{"id": "t0"}, {"id": "t1"}],
                      "queues": [{"name": "q", "strategy": "top-down", "tier_wait_s": 20,
                                  "members": [{"agent": "t0", "level": 1}, {"agent": "t1", "level": 2}]}]})
    clock = Clock()
    eng = Engine(c, clock)
    eng.login("t0"), eng.login("t1")
    assert rings(eng.join("c", "q")) == []
    assert eng.next_deadline() == clock.t + 20_000
    clock.t += 20_000
    assert rings(eng.tick()) == ["t0"]

    c = parse_queues({"agents": [{"id": "p0"}, {"id": "p5"}],
                      "queues": [{"name": "q", "rules": [{"after_s": 30, "max_penalty": 5}],
                                  "members": [{"agent": "p5", "penalty": 5}]}]})
    eng = Engine(c, clock)
    eng.login("p5")
    assert rings(eng.join("c", "q")) == []          # penalty 5 is out of range at first
    clock.t += 30_000
    assert rings(eng.tick()) == ["p5"]


def test_wrapup_is_enforced_across_queues_and_after_a_transfer():
    c = parse_queues({"agents": [{"id": "a"}, {"id": "b"}],
                      "queues": [{"name": "q1", "wrapup_s": 30, "members": [{"agent": "a"}]},
                                 {"name": "q2", "members": [{"agent": "a"}, {"agent": "b"}]}]})
    clock, log = Clock(), []
    eng = Engine(c, clock, log=log.extend)
    eng.login("a")
    eng.join("c1", "q1"), eng.answered("a", "c1")
    clock.t += 5000
    eng.transfer("c1", "queue:q2")
    assert eng.agents["a"].state == WRAPUP
    assert rings(eng.join("c2", "q2")) == []        # the other queue waits for a's wrap-up too
    clock.t += 30_000
    out = eng.tick()
    assert eng.agents["a"].state == RINGING and rings(out) == ["a"]
    assert "TRANSFER" in events(log) and "WRAPUPEND" in events(log)


def test_max_no_answer_pauses_the_agent_and_the_call_goes_to_the_next():
    eng, clock, log = make("linear", ring_timeout_s=10, retry_s=0, max_no_answer=2)
    eng.login("a0")
    eng.join("c", "q")
    for _ in range(2):
        clock.t += 10_000
        eng.tick()
    assert eng.agents["a0"].state == PAUSED and eng.agents["a0"].pause_code == "no-answer"
    assert events(log).count("RINGNOANSWER") == 2 and "PAUSE" in events(log)
    eng.login("a1")
    assert eng.calls["c"].ringing.keys() == {"a1"}


def test_pending_pause_waits_for_the_end_of_the_call():
    eng, clock, log = make("linear", wrapup_s=5)
    eng.login("a0")
    eng.join("c", "q"), eng.answered("a0", "c")
    eng.pause("a0", "lunch")
    assert eng.agents["a0"].state == TALKING
    eng.agent_hangup("c")
    clock.t += 5000
    eng.tick()
    assert eng.agents["a0"].state == PAUSED and eng.agents["a0"].pause_code == "lunch"


def test_sticky_agent_serves_a_returning_customer():
    directory = {"13800000001": "cust-1", "02188888888": "cust-1"}.get
    c = centre("linear", sticky={"window_s": 3600})
    clock = Clock()
    eng = Engine(c, clock, directory=directory)
    for a in ("a0", "a1", "a2"):
        eng.login(a)
    eng.join("x", "q", "13800000009"), eng.answered("a0", "x")      # keeps a0 busy
    eng.join("c1", "q", "13800000001"), eng.answered("a1", "c1"), eng.hangup("c1")
    eng.hangup("x")
    # the same customer from another number: a1, not the first free (a0)
    assert rings(eng.join("c2", "q", "02188888888")) == ["a1"]


def test_max_len_join_empty_leave_empty_and_exit_keys():
    eng, clock, log = make("linear", max_len=1, join_empty="no", leave_empty="yes", when_full="voicemail:vm",
                           when_empty="callback", exit_keys={"0": "ivr:main"})
    out = eng.join("c0", "q")
    assert out == [Route("c0", Target("callback"), "JOINEMPTY")]
    eng.login("a0"), eng.pause("a0", "x")
    eng.join("c1", "q")
    assert [type(a) for a in eng.join("c2", "q")] == [Route]           # full
    assert [a.target.kind for a in eng.key("c1", "0")] == ["ivr"]
    assert events(log)[-1] == "EXITWITHKEY"
    eng.join("c3", "q")
    eng.logout("a0")
    assert "EXITEMPTY" in events(log) and not eng.calls


def test_position_and_expected_wait_are_computed_from_the_queue():
    eng, clock, log = make("linear", announce={"every_s": 30}, aht_s=120)
    eng.login("a0"), eng.login("a1")
    eng.join("busy0", "q"), eng.answered("a0", "busy0")
    eng.join("busy1", "q"), eng.answered("a1", "busy1")
    eng.join("c1", "q")
    eng.join("vip", "q", priority=5)
    out = [a for a in eng.tick() if isinstance(a, Announce)]
    assert {a.call: (a.position, a.expected_wait_s) for a in out} == {"vip": (1, 60), "c1": (2, 120)}


def test_config_problems_are_listed_with_their_place():
    with pytest.raises(ConfigError) as e:
        parse_queues({"agents": [{"id": "a"}], "queues": [
            {"name": "q", "strategy": "fastest", "members": [{"agent": "zz"}], "overflow": "queue:nope",
             "rules": [{"after_s": 10}, {"after_s": 5}], "ring_timeout_s": "x"}]})
    msg = str(e.value)
    for part in ("strategy: unknown 'fastest'", "members[0].agent: unknown agent 'zz'", "unknown queue 'nope'",
                 "increasing after_s", "ring_timeout_s"):
        assert part in msg, part
    assert "\n" not in msg


def test_the_state_machine_refuses_moves_it_does_not_have():
    a = Agent("x")
    with pytest.raises(AgentStateError):
        a.move(TALKING, 0, "c")
    with pytest.raises(AcdError):
        make()[0].ready("a0")                       # logged out


# ---------------------------------------------------------------- random event orders

AGENTS = ["a0", "a1", "a2"]
CALLS = [f"c{i}" for i in range(6)]
# telephony results name a live ring or call most of the time (``pick``: the n-th one), and a
# stale or made-up one otherwise, so that races are exercised and not only misses
event_st = st.one_of(
    st.tuples(st.sampled_from(["login", "logout", "ready", "end_wrapup"]), st.sampled_from(AGENTS)),
    st.tuples(st.just("pause"), st.sampled_from(AGENTS), st.sampled_from(["", "lunch"])),
    st.tuples(st.just("join"), st.sampled_from(CALLS)),
    st.tuples(st.sampled_from(["hangup", "agent_hangup", "hold", "unhold"]), st.integers(0, 7)),
    st.tuples(st.sampled_from(["answered", "answered", "no_answer", "rejected"]), st.integers(0, 7),
              st.sampled_from(AGENTS), st.sampled_from(CALLS)),
    st.tuples(st.just("key"), st.integers(0, 7), st.sampled_from("01")),
    st.tuples(st.just("transfer"), st.integers(0, 7), st.sampled_from(["queue:q2", "8001"])),
    st.tuples(st.just("wait"), st.integers(0, 40_000)),
)


def apply(eng, clock, ev, joined=None):
    """One event; AcdError only for a command to a logged-out agent."""
    name, *args = ev
    if name == "wait":
        clock.t += args[0]
        return eng.tick()
    if name == "join":
        if args[0] in eng.calls:
            return []
        if joined is not None:
            joined.add(args[0])
        return eng.join(args[0], "q", "138" + args[0][-1])
    if name in ("hangup", "agent_hangup", "hold", "unhold", "key", "transfer"):
        calls = sorted(eng.calls)
        call = calls[args[0] % len(calls)] if calls and args[0] < 6 else CALLS[args[0] % len(CALLS)]
        if name == "transfer":
            if call not in eng.calls or eng.calls[call].state != "talking":
                return []
            return eng.transfer(call, args[1])
        return getattr(eng, name)(call, *args[1:])
    if name in ("answered", "no_answer", "rejected"):
        rings = sorted((a, c.id) for c in eng.calls.values() for a in c.ringing)
        agent, call = rings[args[0] % len(rings)] if rings and args[0] < 6 else (args[1], args[2])
        return getattr(eng, name)(agent, call)
    return getattr(eng, name)(*args)


def random_centre(strategy):
    return parse_queues({"agents": [{"id": a} for a in AGENTS], "queues": [
        {"name": "q", "strategy": strategy, "ring_timeout_s": 10, "retry_s": 1, "wrapup_s": 3, "max_no_answer": 2,
         "timeout_s": 60, "overflow": "queue:q2", "exit_keys": {"1": "callback"}, "announce": {"every_s": 15},
         "leave_empty": "strict", "members": [{"agent": a, "penalty": i % 2} for i, a in enumerate(AGENTS)],
         "rules": [{"after_s": 20, "max_penalty": 1}], "sticky": {"window_s": 100}},
        {"name": "q2", "strategy": "ringall", "timeout_s": 90, "max_len": 3,
         "members": [{"agent": "a1"}, {"agent": "a2", "level": 1}], "tier_wait_s": 5}]})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=st.sampled_from(STRATEGIES), evs=st.lists(event_st, min_size=20, max_size=80))
def test_random_event_orders_keep_every_invariant(strategy, evs):
    clock, log = Clock(), []
    eng = Engine(random_centre(strategy), clock, log=log.extend, seed=1)
    joined = set()
    for ev in evs:
        try:
            apply(eng, clock, ev, joined)
        except AcdError as e:
            assert "logged out" in str(e), e
        assert eng.check() == [], (ev, eng.check())
    # a call lost would be one that joined, is not in the engine, and has no outcome in the log
    outcome = {}
    for e in log:
        if e.event in ("COMPLETEAGENT", "COMPLETECALLER", "TRANSFER", *MISSED):
            outcome[e.callid] = e.event
    for call in joined:
        assert call in eng.calls or call in outcome, call
    for call in list(eng.calls):                      # everyone hangs up: nothing is left reserved
        eng.hangup(call)
    clock.t += 10 ** 6
    eng.tick()
    assert not eng.calls
    assert all(a.state not in (RINGING, TALKING, WRAPUP) and a.call is None for a in eng.agents.values())
    from hub.acd import kpi                           # an answered visit is never counted abandoned
    for visit in kpi.call_waits(log):
        assert not (visit["agent"] and visit["outcome"] not in ("answered", "transferred")), visit
    assert all(v["outcome"] != "waiting" for v in kpi.call_waits(log))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=st.sampled_from(STRATEGIES), evs=st.lists(event_st, min_size=20, max_size=80))
def test_agent_state_history_tiles_every_session_under_random_events(strategy, evs):
    """Pause times and every other state add up: the intervals of each log-in session follow one
    another without gap or overlap, from AGENTLOGIN to AGENTLOGOFF (or the end)."""
    from hub.acd import kpi
    clock, log = Clock(), []
    eng = Engine(random_centre(strategy), clock, log=log.extend, seed=2)
    for ev in evs:
        try:
            apply(eng, clock, ev)
        except AcdError:
            pass
    clock.t += 1000
    end = clock.t
    states = kpi.agent_states(log, end)
    for agent in AGENTS:
        mine = sorted((s for s in states if s["agent"] == agent), key=lambda s: s["start_ms"])
        sessions, start = [], None
        for e in log:
            if e.agent == agent and e.event == "AGENTLOGIN":
                start = e.time_ms
            elif e.agent == agent and e.event == "AGENTLOGOFF":
                sessions.append((start, e.time_ms))
                start = None
        if start is not None:
            sessions.append((start, end))
        logged = sum(b - a for a, b in sessions)
        assert sum(s["end_ms"] - s["start_ms"] for s in mine) == logged
        for a, b in zip(mine, mine[1:]):
            assert a["end_ms"] <= b["start_ms"]
        # the state the history ends in is the engine's own (a ring still going shows as ready:
        # the log has a ring only once it ends)
        if mine and eng.agents[agent].state != "logged-out":
            assert mine[-1]["state"] == {"ringing": "ready"}.get(eng.agents[agent].state, eng.agents[agent].state)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-5, 100) | st.floats(allow_nan=True) | st.text(max_size=6),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(
                        st.sampled_from(["agents", "queues", "name", "id", "strategy", "members", "agent", "rules",
                                         "after_s", "max_penalty", "exit_keys", "overflow", "timeout_s", "announce",
                                         "every_s", "periodic", "prompts", "skills", "sticky", "window_s", "x"]),
                        c, max_size=5), max_leaves=25))
def test_any_queue_file_is_accepted_or_refused_in_one_line(data):
    try:
        parse_queues(data)
    except ConfigError as e:
        assert "\n" not in str(e) and e.problems


def test_supervisor_listens_whispers_barges_and_takes_over():
    from hub.acd.engine import Supervise
    eng, clock, log = make("linear", wrapup_s=5)
    eng.login("a0")
    eng.join("c", "q"), eng.answered("a0", "c")
    for mode in ("listen", "whisper", "barge"):
        assert eng.supervise("boss", "c", mode) == [Supervise("boss", "c", "a0", mode)]
        assert eng.agents["a0"].state == TALKING
    with pytest.raises(AcdError, match="unknown supervision mode"):
        eng.supervise("boss", "c", "spy")
    eng.supervise("boss", "c", "takeover")
    assert eng.agents["a0"].state == WRAPUP and "c" not in eng.calls
    assert log[-1].event == "TRANSFER" and log[-1].data[0] == "supervisor:boss"
    with pytest.raises(AcdError, match="not connected"):
        eng.supervise("boss", "c", "listen")


def test_skills_are_required_until_a_rule_drops_them():
    # a0 and a2 have the skill "parcel", a1 has none
    eng, clock, _ = make("linear", skills=["parcel"], rules=[{"after_s": 30, "drop_skills": True}])
    eng.login("a1")
    assert rings(eng.join("c", "q")) == []
    clock.t += 30_000
    assert rings(eng.tick()) == ["a1"]


def test_fewestcalls_longest_idle_and_wrandom():
    eng, clock, _ = make("fewestcalls")
    for a in ("a0", "a1", "a2"):
        eng.login(a)
    for i in range(2):                   # a0 takes two calls
        eng.join(f"x{i}", "q"), eng.answered("a0", f"x{i}"), eng.hangup(f"x{i}")
    assert rings(eng.join("y", "q")) == ["a1"]

    eng, clock, _ = make("longest-idle-agent")
    for a in ("a2", "a0", "a1"):         # ready in this order
        eng.login(a)
        clock.t += 1000
    assert rings(eng.join("y", "q")) == ["a2"]

    c = parse_queues({"agents": [{"id": "lo"}, {"id": "hi"}], "queues": [
        {"name": "q", "strategy": "wrandom", "members": [{"agent": "lo", "penalty": 0}, {"agent": "hi", "penalty": 9}]}]})
    picks = []
    for seed in range(200):
        eng = Engine(c, Clock(), seed=seed)
        eng.login("lo"), eng.login("hi")
        picks += rings(eng.join("y", "q"))
    assert 0 < picks.count("hi") < picks.count("lo")          # both are rung, the low penalty far more often


def test_overflow_to_another_queue_keeps_the_first_arrival_and_periodic_prompts_cycle():
    c = parse_queues({"agents": [{"id": "a"}, {"id": "b"}], "queues": [
        {"name": "front", "timeout_s": 60, "overflow": "queue:back", "periodic": {"every_s": 20, "prompts": ["p1", "p2"]},
         "members": [{"agent": "a"}]},
        {"name": "back", "members": [{"agent": "b"}]}]})
    clock, log = Clock(), []
    eng = Engine(c, clock, log=log.extend)
    eng.join("early", "front")
    clock.t += 10_000
    eng.join("late", "back")
    plays = []
    while clock.t < Clock().t + 60_000:
        clock.t = eng.next_deadline()
        plays += [a.prompt for a in eng.tick() if hasattr(a, "prompt")]
    assert plays[:2] == ["p1", "p2"]
    assert [e.event for e in log if e.callid == "early"] == ["ENTERQUEUE", "EXITWITHTIMEOUT", "ENTERQUEUE"]
    eng.login("b")
    assert eng.calls["early"].state == "ringing"               # first come (to the center), first served


def test_sticky_key_from_a_caller_directory_needs_one_customer():
    from hub.acd.sticky import customer_key
    from hub.ivr.directory import Customer

    class Directory:                      # the CallerDirectory protocol over a fixed book
        book = {"13800000001": [Customer("c-1", "Wang", "13800000001", "crm")],
                "02100000000": [Customer("c-1", "Wang", "02100000000", "crm"),
                                Customer("c-2", "Li", "02100000000", "crm")]}

        def customers(self, number):
            return self.book.get(number, [])

    key = customer_key(Directory())
    assert key("13800000001") == "c-1"
    assert key("02100000000") is None     # shared switchboard number: no guess
    assert key("13999999999") is None
