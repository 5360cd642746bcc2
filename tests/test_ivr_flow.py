"""IVR flows: the checker reports every problem with its place, and refuses exactly the flows in
which some caller could be trapped (hypothesis: its verdict agrees with an exhaustive walk of
the engine over random flows)."""
from __future__ import annotations

import copy
import os
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.ivr.engine import Engine, ServiceResult, Services
from hub.ivr.errors import FlowError
from hub.ivr.flow import check_flow, load_flow

SAMPLE_FLOW = os.path.join(os.path.dirname(__file__), "..", "hub", "ivr", "flows", "hotline.yaml")


def write(tmp_path, text: str, name="flow.yaml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(p)


def problems_of(path) -> list[str]:
    with pytest.raises(FlowError) as e:
        load_flow(path)
    assert str(e.value).startswith(path)
    return e.value.problems


HEAD = """\
    start: main
    prompts: {p: 请按键, bye: 再见}
    nodes:
"""


def test_the_sample_flow_is_fine_and_follows_the_menu_of_the_hotline():
    f = load_flow(SAMPLE_FLOW)
    main = f.nodes["main"]
    assert main["type"] == "menu"
    assert f.nodes[main["keys"]["1"]]["type"] == "menu"                     # 1 consult
    query = f.nodes[main["keys"]["2"]]                                      # 2 query / complaint
    assert {f.nodes[t]["type"] for t in query["keys"].values()} >= {"collect", "voicemail"}
    pickup = f.nodes[main["keys"]["3"]]                                     # 3 order a pickup:
    assert f.nodes[pickup["keys"]["0"]]["type"] == "transfer" and f.nodes["pickup"]["to"] == "queue"   # by an agent
    assert f.nodes[pickup["keys"]["1"]]["type"] == "collect"                # or self-service (pickup_order)
    assert f.nodes[f.start]["type"] == "schedule"
    assert f.schedules["office"].calendar.holidays                          # holidays from the calendar file


def test_every_problem_is_reported_with_its_file_line_and_node(tmp_path):
    path = write(tmp_path, HEAD + """\
      main:
        type: menu
        play: p
        keys: {"1": nowhere, "x": bye}
        exhausted: bye
        colour: blue
      bye: {type: hangup, play: bye}
      odd: {type: dance}
      say_it: {type: announce, play: [{say: number, var: total}], next: bye}
    """)
    probs = problems_of(path)
    text = "\n".join(probs)
    assert f"{path}:7: main: key 'x' is not one of 0-9 * #" in text
    assert f"{path}:7: main: 1 names 'nowhere', which is not a node" in text
    assert f"{path}:9: main: menu has no field 'colour'" in text
    assert f"{path}:11: odd: type 'dance' is not one of" in text
    assert f"{path}:12: say_it: variable 'total' is never set" in text


def test_a_dead_end_is_refused(tmp_path):
    path = write(tmp_path, HEAD + """\
      main: {type: menu, play: p, keys: {"1": a, "2": bye}, exhausted: bye}
      a: {type: menu, play: p, keys: {"1": b}, exhausted: b}
      b: {type: announce, play: p, next: a}
      bye: {type: hangup}
    """)
    probs = problems_of(path)
    assert any(f"{path}:5: a: dead end" in p for p in probs), probs
    assert any(f"{path}:6: b: dead end" in p for p in probs), probs


def test_a_loop_a_silent_caller_cannot_leave_is_refused_but_a_chosen_one_is_fine(tmp_path):
    path = write(tmp_path, HEAD + """\
      main: {type: menu, play: p, keys: {"1": bye, "9": main}, exhausted: sorry}
      sorry: {type: announce, play: p, next: main}
      bye: {type: hangup}
    """)
    probs = problems_of(path)
    assert any("loop without a way out for a silent caller" in p and "main -> sorry -> main" in p
               for p in probs), probs
    fine = write(tmp_path, HEAD + """\
      main: {type: menu, play: p, keys: {"1": bye, "9": main}, exhausted: bye}
      bye: {type: hangup}
    """, "fine.yaml")
    assert load_flow(fine).nodes["main"]["keys"]["9"] == "main"


def test_unreachable_nodes_missing_prompts_and_bad_schedules(tmp_path):
    path = write(tmp_path, """\
    start: hours
    schedules:
      office: {mon-fri: ["08:30-18:00"], someday: ["09:00-10:00"], sat: ["25:00-26:00"], calendar: nope.yaml}
    nodes:
      hours: {type: schedule, schedule: office, open: bye, closed: bye}
      bye: {type: hangup, play: unspoken}
      lost: {type: hangup}
    """)
    text = "\n".join(problems_of(path))
    assert "'someday' is not a weekday or span" in text
    assert "sat: '25:00-26:00' is not a range" in text
    assert "nope.yaml: calendar file not found" in text
    path = write(tmp_path, """\
    start: bye
    nodes:
      bye: {type: hangup, play: unspoken}
      lost: {type: hangup}
    """, "b.yaml")
    text = "\n".join(problems_of(path))
    assert f"{path}:4: lost: no caller can reach this node from bye" in text


def test_not_a_flow_at_all(tmp_path):
    assert problems_of(write(tmp_path, "[1, 2")) [0].startswith("not valid YAML")
    assert problems_of(write(tmp_path, "- a\n- b\n", "l.yaml")) == ["the top level must be a mapping with start and nodes"]
    assert problems_of(str(tmp_path / "none.yaml")) == ["file not found"]
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8 text" in problems_of(str(tmp_path / "bin.yaml"))[0]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_is_a_flow_or_one_clear_error(text):
    import io
    from hub.ivr.flow import _LineLoader
    try:
        raw = yaml.load(io.StringIO(text), Loader=_LineLoader)     # noqa: S506
    except yaml.YAMLError:
        return
    try:
        check_flow(raw, "fuzz")
    except FlowError as e:
        assert e.problems and all(isinstance(p, str) for p in e.problems)


FIELD_NAMES = st.sampled_from(["type", "play", "next", "keys", "exhausted", "into", "max", "min", "1", "service",
                               "queue", "cases", "var", "vars", "default", "nodes", "start", "retries", "timeout_s"])


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(FIELD_NAMES, c, max_size=5),
                    max_leaves=30))
@settings(max_examples=150, deadline=None)
def test_any_structure_is_a_flow_or_one_clear_error(raw):
    try:
        check_flow({"start": "a", "nodes": {"a": raw, "b": {"type": "hangup"}}}, "fuzz")
    except FlowError as e:
        assert e.problems


# ---------------------------------------------------------------- checker vs exhaustive walk

NAMES = [f"n{i}" for i in range(7)]
KINDS = ["announce", "menu", "collect", "service", "transfer", "hangup", "voicemail"]


@st.composite
def random_flows(draw):
    n = draw(st.integers(2, 7))
    names = NAMES[:n]
    nodes = {}
    for i, name in enumerate(names):
        # mostly forward (so that many flows are fine), sometimes anywhere (loops, dead ends)
        forward = st.sampled_from(names[i + 1:i + 2] * 3 + names[i + 1:]) if i < n - 1 else st.sampled_from(names)
        target = st.one_of(*[forward] * 6, st.sampled_from(names))
        inner = KINDS + ["menu", "collect", "service", "announce"] * 2     # endings in the middle cut flows short
        kind = draw(st.sampled_from(inner if i < n - 1 else KINDS + ["transfer", "hangup"] * 2))
        node = {"type": kind}
        if kind in ("announce", "menu", "collect", "voicemail"):
            node["play"] = "p"
        if kind == "announce":
            node["next"] = draw(target)
        elif kind == "menu":
            keys = draw(st.lists(st.sampled_from("123"), min_size=1, max_size=3, unique=True))
            node.update(keys={k: draw(target) for k in keys}, exhausted=draw(target), retries=draw(st.integers(1, 2)))
        elif kind == "collect":
            node.update(into="v", max=draw(st.integers(1, 2)), min=1, next=draw(target), exhausted=draw(target),
                        retries=draw(st.integers(1, 2)))
        elif kind == "service":
            node.update(service="track", next=draw(target), fail=draw(target))
        elif kind == "transfer":
            node["queue"] = "q"
        nodes[name] = node
    return {"start": "n0", "prompts": {"p": "请按键"}, "variables": {"waybill": ""}, "nodes": nodes}


class Choose(Services):
    """Answers each service node as the walk chooses (``outcomes``: node -> ok | fail); the walk
    tries every assignment at every event.  Within one event a node answers the same each time:
    a node met twice in one event is on an automatic cycle, which the engine then goes round
    until its guard stops it, and the walk counts that as a trap."""

    def __init__(self):
        self.outcomes: dict[str, str] = {}
        self.engine = None

    def run(self, name, variables, tz):
        return ServiceResult(self.outcomes.get(self.engine.node, "ok"))


def assignments(flow):
    import itertools
    nodes = [n for n, node in flow.nodes.items() if node["type"] == "service"]
    return [dict(zip(nodes, combo)) for combo in itertools.product(("ok", "fail"), repeat=len(nodes))]


WALK_KEYS = "1234#"


def _key(e: Engine):
    return (e.node, e.phase, e.tries, e.digits, getattr(e, "_after_play", None))


def exhaustive_walk(flow) -> bool:
    """True when no caller can be trapped: every node can be entered, an ending can be reached
    from every reachable state, and no cycle of states is made of silent events alone."""
    seen, todo, entered = {}, [], set()
    graph: dict = {}          # state -> [(state, silent)]
    for outcomes in assignments(flow):
        first = Engine(flow, Choose(), clock=lambda: 0)
        first.services.engine, first.services.outcomes = first, outcomes
        first.start("1", "2")
        entered.update(first.path)
        if _key(first) not in seen:
            seen[_key(first)] = first
            todo.append(first)
    while todo:
        e = todo.pop()
        k = _key(e)
        graph[k] = []
        if e.ended:
            continue
        events = [("timeout", True), ("prompt_done", True), ("recorded", True)] + \
            [(key, False) for key in WALK_KEYS]
        for ev, silent in events:
            for outcomes in assignments(flow):
                nxt = copy.deepcopy(e)
                nxt.services.outcomes = outcomes
                if ev == "recorded":
                    nxt.recorded("", 0)
                elif ev in ("timeout", "prompt_done"):
                    getattr(nxt, ev)()
                else:
                    nxt.digit(ev)
                nk = _key(nxt)
                if nk == k and not nxt.ended:
                    if nxt.trail[-1]["event"] != "ignored":
                        graph[k].append((nk, silent))
                    continue
                entered.update(nxt.path)
                graph[k].append((nk, silent))
                if nk not in seen:
                    seen[nk] = nxt
                    todo.append(nxt)
    if entered != set(flow.nodes):
        return False
    if any(e.result and e.result.get("reason") == "loop guard" for e in seen.values()):
        return False          # the engine went round automatic steps until its guard stopped it
    ended = {k for k, e in seen.items() if e.ended}
    good = set(ended)
    changed = True
    while changed:
        changed = False
        for k, outs in graph.items():
            if k not in good and any(t in good for t, _ in outs):
                good.add(k)
                changed = True
    if good != set(seen):
        return False
    # a cycle of silent events
    colour = {}

    def cyclic(k):
        colour[k] = 1
        for t, silent in graph.get(k, []):
            if not silent:
                continue
            if colour.get(t) == 1 or (t not in colour and cyclic(t)):
                return True
        colour[k] = 2
        return False
    return not any(k not in colour and cyclic(k) for k in list(graph))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_flows())
def test_the_checker_refuses_exactly_the_flows_an_exhaustive_walk_finds_a_trap_in(raw):
    try:
        flow = check_flow(raw, "random")
        accepted = True
    except FlowError as e:
        assert all(("dead end" in p or "loop without a way out" in p or "no caller can reach" in p)
                   for p in e.problems), e.problems
        accepted = False
        # the walk needs the flow as the checker would have built it
        from hub.ivr import flow as fl
        raw2 = copy.deepcopy(raw)
        flow = None
        orig = fl.walk_problems
        try:
            fl.walk_problems = lambda f: []
            flow = check_flow(raw2, "random")
        finally:
            fl.walk_problems = orig
    event("accepted" if accepted else "refused")
    assert exhaustive_walk(flow) == accepted


def test_a_long_flow_is_checked_without_a_deep_stack():
    n = 5000
    nodes = {f"a{i}": {"type": "announce", "play": "p", "next": f"a{i + 1}"} for i in range(n)}
    nodes[f"a{n}"] = {"type": "hangup"}
    assert len(check_flow({"start": "a0", "prompts": {"p": "x"}, "nodes": nodes}).nodes) == n + 1
    nodes[f"a{n}"] = {"type": "announce", "play": "p", "next": "a0"}
    with pytest.raises(FlowError) as e:
        check_flow({"start": "a0", "prompts": {"p": "x"}, "nodes": nodes})
    assert sum("loop without a way out" in p for p in e.value.problems) == 1
