"""Queues as data: a YAML file of agents and queues, checked with every problem and its place.

::

    agents:
      - {id: "1001", name: Wang Fang, skills: [parcel, english]}
    queues:
      - name: service
        strategy: leastrecent          # see STRATEGIES
        members:
          - {agent: "1001", penalty: 0}
          - {agent: "1002", penalty: 2, level: 1, position: 0}
        ring_timeout_s: 15             # ring an agent this long, then try again
        retry_s: 2                     # pause before the next attempt after a ring failed
        wrapup_s: 10                   # after-call work, enforced across every queue
        max_no_answer: 3               # rings missed in a row, then the agent is paused
        max_len: 50                    # 0 = no limit
        join_empty: "no"               # yes | no (refuse when nobody is logged in) | strict (nobody ready)
        leave_empty: "no"
        timeout_s: 300                 # longest wait, then `overflow`
        overflow: queue:backup         # queue:NAME, voicemail:BOX, ivr:NODE, callback, hangup
        when_full: voicemail:complaints
        when_empty: callback
        exit_keys: {"0": "ivr:main", "1": callback}
        announce: {every_s: 30, expected_wait: true}
        periodic: {every_s: 60, prompts: [comfort-1]}
        rules: [{after_s: 30, max_penalty: 5}, {after_s: 60, max_penalty: 10, drop_skills: true}]
        tier_wait_s: 20                # a member of level L is offered calls after L × 20 s
        skills: [parcel]               # what a member must have (until a rule drops it)
        sticky: {window_s: 86400}      # a returning caller rings their last agent if free
        weight: 0                      # a higher weight is served first by shared agents
        aht_s: 180                     # handle-time estimate before calls are measured
        service_level_s: 20

``load_queues(path)`` / ``parse_queues(data, source)`` return a ``Centre`` or raise
``ConfigError`` listing every problem ("queues[0].strategy: unknown 'fastest'; one of …").
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from hub.acd.errors import ConfigError

#: app_queue's eight, then mod_callcenter's longest-idle-agent and top-down.
STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear", "wrandom",
              "longest-idle-agent", "top-down")
EMPTY_RULES = ("yes", "no", "strict")
TARGET_KINDS = ("queue", "voicemail", "ivr", "callback", "hangup")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Target:
    """Where a caller goes when they leave a queue without an agent: ``kind`` one of
    ``TARGET_KINDS``, ``name`` the queue, voicemail box or IVR node (empty for callback and
    hangup)."""
    kind: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


@dataclass(frozen=True)
class Rule:
    """After ``after_s`` seconds of waiting members up to ``max_penalty`` may take the call (a
    queue with such rules starts with penalty 0 only); ``drop_skills`` lifts the queue's skill
    requirement.  Rules only widen: the range never narrows back."""
    after_s: float
    max_penalty: int | None = None
    drop_skills: bool = False


@dataclass(frozen=True)
class Member:
    agent: str
    penalty: int = 0
    level: int = 0          # tier level (top-down and tier_wait_s)
    position: int = 0       # order inside a level


@dataclass(frozen=True)
class Queue:
    name: str
    strategy: str = "leastrecent"
    members: tuple[Member, ...] = ()
    ring_timeout_s: float = 15.0
    retry_s: float = 2.0
    wrapup_s: float = 0.0
    max_no_answer: int = 3
    max_len: int = 0
    join_empty: str = "yes"
    leave_empty: str = "no"
    timeout_s: float = 0.0
    overflow: Target = Target("callback")
    when_full: Target = Target("callback")
    when_empty: Target = Target("callback")
    exit_keys: dict[str, Target] = field(default_factory=dict)
    announce_every_s: float = 0.0
    announce_expected_wait: bool = True
    periodic_every_s: float = 0.0
    periodic_prompts: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    tier_wait_s: float = 0.0
    skills: frozenset[str] = frozenset()
    sticky_window_s: float = 0.0
    weight: int = 0
    aht_s: float = 180.0
    service_level_s: float = 20.0

    def member(self, agent: str) -> Member | None:
        for m in self.members:
            if m.agent == agent:
                return m
        return None


@dataclass(frozen=True)
class AgentInfo:
    id: str
    name: str = ""
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Centre:
    """Every queue and agent of one call center."""
    queues: dict[str, Queue]
    agents: dict[str, AgentInfo]

    def queue(self, name: str) -> Queue:
        from hub.acd.errors import AcdError
        q = self.queues.get(name)
        if q is None:
            raise AcdError(f"unknown queue {name!r} (queues: {', '.join(sorted(self.queues)) or 'none'})")
        return q


def parse_target(text, where: str, problems: list[str], queues: set[str] | None = None) -> Target:
    s = "" if text is None else str(text).strip()
    kind, _, name = s.partition(":")
    if kind not in TARGET_KINDS:
        problems.append(f"{where}: target {s!r} is not one of queue:NAME, voicemail:BOX, ivr:NODE, callback, hangup")
        return Target("callback")
    if kind in ("queue", "voicemail", "ivr") and not _NAME.match(name):
        problems.append(f"{where}: {kind} target needs a name ({kind}:NAME)")
    if kind in ("callback", "hangup") and name:
        problems.append(f"{where}: {kind} takes no name")
    if kind == "queue" and queues is not None and name and name not in queues:
        problems.append(f"{where}: unknown queue {name!r}")
    return Target(kind, name)


def _num(raw: dict, key: str, default, where: str, problems: list[str], *, integer=False, minimum=0):
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        problems.append(f"{where}.{key}: {v!r} is not {'a whole number' if integer else 'a number'}")
        return default
    if v < minimum or v != v or v in (float("inf"),):
        problems.append(f"{where}.{key}: {v!r} is below {minimum}")
        return default
    return v


def _dict(v, where: str, problems: list[str]) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        problems.append(f"{where}: expected a mapping, got {type(v).__name__}")
        return {}
    return v


def _list(v, where: str, problems: list[str]) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        problems.append(f"{where}: expected a list, got {type(v).__name__}")
        return []
    return v


def _known(raw: dict, keys: set[str], where: str, problems: list[str]) -> None:
    for k in raw:
        if k not in keys:
            problems.append(f"{where}: unknown key {k!r}")


_QUEUE_KEYS = {"name", "strategy", "members", "ring_timeout_s", "retry_s", "wrapup_s", "max_no_answer", "max_len",
               "join_empty", "leave_empty", "timeout_s", "overflow", "when_full", "when_empty", "exit_keys",
               "announce", "periodic", "rules", "tier_wait_s", "skills", "sticky", "weight", "aht_s",
               "service_level_s"}


def parse_queues(data, source: str = "queues") -> Centre:
    """Check a decoded queue file; ``ConfigError`` lists every problem with its place."""
    problems: list[str] = []
    data = _dict(data, source, problems)
    _known(data, {"agents", "queues"}, source, problems)
    agents: dict[str, AgentInfo] = {}
    for i, raw in enumerate(_list(data.get("agents"), "agents", problems)):
        where = f"agents[{i}]"
        raw = _dict(raw, where, problems)
        _known(raw, {"id", "name", "skills"}, where, problems)
        aid = str(raw.get("id", "")).strip()
        if not _NAME.match(aid):
            problems.append(f"{where}.id: {aid!r} is not an agent id (letters, digits, . _ -)")
            continue
        if aid in agents:
            problems.append(f"{where}.id: agent {aid!r} appears twice")
        skills = _list(raw.get("skills"), f"{where}.skills", problems)
        agents[aid] = AgentInfo(aid, str(raw.get("name", "")), frozenset(str(s) for s in skills))
    raw_queues = _list(data.get("queues"), "queues", problems)
    names = set()
    for raw in raw_queues:
        if isinstance(raw, dict) and raw.get("name") is not None:
            names.add(str(raw["name"]))
    queues: dict[str, Queue] = {}
    for i, raw in enumerate(raw_queues):
        where = f"queues[{i}]"
        raw = _dict(raw, where, problems)
        _known(raw, _QUEUE_KEYS, where, problems)
        name = str(raw.get("name", "")).strip()
        if not _NAME.match(name):
            problems.append(f"{where}.name: {name!r} is not a queue name (letters, digits, . _ -)")
            continue
        where = f"queues[{i}] ({name})"
        if name in queues:
            problems.append(f"{where}.name: queue {name!r} appears twice")
        strategy = str(raw.get("strategy", "leastrecent"))
        if strategy not in STRATEGIES:
            problems.append(f"{where}.strategy: unknown {strategy!r}; one of {', '.join(STRATEGIES)}")
        members, seen = [], set()
        for j, m in enumerate(_list(raw.get("members"), f"{where}.members", problems)):
            mw = f"{where}.members[{j}]"
            m = _dict(m, mw, problems)
            _known(m, {"agent", "penalty", "level", "position"}, mw, problems)
            aid = str(m.get("agent", "")).strip()
            if aid not in agents:
                problems.append(f"{mw}.agent: unknown agent {aid!r}")
            if aid in seen:
                problems.append(f"{mw}.agent: {aid!r} is a member twice")
            seen.add(aid)
            members.append(Member(aid, _num(m, "penalty", 0, mw, problems, integer=True),
                                  _num(m, "level", 0, mw, problems, integer=True),
                                  _num(m, "position", j, mw, problems, integer=True)))
        for key in ("join_empty", "leave_empty"):
            if str(raw.get(key, "yes" if key == "join_empty" else "no")) not in EMPTY_RULES:
                problems.append(f"{where}.{key}: {raw.get(key)!r} is not one of yes, no, strict")
        exit_keys = {}
        for k, t in _dict(raw.get("exit_keys"), f"{where}.exit_keys", problems).items():
            k = str(k)
            if k not in "0123456789*#" or len(k) != 1:
                problems.append(f"{where}.exit_keys: {k!r} is not one key (0-9, *, #)")
            exit_keys[k] = parse_target(t, f"{where}.exit_keys.{k}", problems, names)
        ann = _dict(raw.get("announce"), f"{where}.announce", problems)
        _known(ann, {"every_s", "expected_wait"}, f"{where}.announce", problems)
        per = _dict(raw.get("periodic"), f"{where}.periodic", problems)
        _known(per, {"every_s", "prompts"}, f"{where}.periodic", problems)
        rules, last_after = [], -1.0
        for j, r in enumerate(_list(raw.get("rules"), f"{where}.rules", problems)):
            rw = f"{where}.rules[{j}]"
            r = _dict(r, rw, problems)
            _known(r, {"after_s", "max_penalty", "drop_skills"}, rw, problems)
            after = _num(r, "after_s", 0, rw, problems)
            if after <= last_after:
                problems.append(f"{rw}.after_s: rules must be in increasing after_s order")
            last_after = after
            rules.append(Rule(after, r.get("max_penalty") if r.get("max_penalty") is None
                              else _num(r, "max_penalty", 0, rw, problems, integer=True),
                              bool(r.get("drop_skills", False))))
        sticky = _dict(raw.get("sticky"), f"{where}.sticky", problems)
        _known(sticky, {"window_s"}, f"{where}.sticky", problems)
        q = Queue(
            name=name, strategy=strategy, members=tuple(members),
            ring_timeout_s=_num(raw, "ring_timeout_s", 15.0, where, problems, minimum=0.001),
            retry_s=_num(raw, "retry_s", 2.0, where, problems),
            wrapup_s=_num(raw, "wrapup_s", 0.0, where, problems),
            max_no_answer=_num(raw, "max_no_answer", 3, where, problems, integer=True),
            max_len=_num(raw, "max_len", 0, where, problems, integer=True),
            join_empty=str(raw.get("join_empty", "yes")), leave_empty=str(raw.get("leave_empty", "no")),
            timeout_s=_num(raw, "timeout_s", 0.0, where, problems),
            overflow=parse_target(raw.get("overflow", "callback"), f"{where}.overflow", problems, names),
            when_full=parse_target(raw.get("when_full", "callback"), f"{where}.when_full", problems, names),
            when_empty=parse_target(raw.get("when_empty", "callback"), f"{where}.when_empty", problems, names),
            exit_keys=exit_keys,
            announce_every_s=_num(ann, "every_s", 0.0, f"{where}.announce", problems),
            announce_expected_wait=bool(ann.get("expected_wait", True)),
            periodic_every_s=_num(per, "every_s", 0.0, f"{where}.periodic", problems),
            periodic_prompts=tuple(str(p) for p in _list(per.get("prompts"), f"{where}.periodic.prompts", problems)),
            rules=tuple(rules),
            tier_wait_s=_num(raw, "tier_wait_s", 0.0, where, problems),
            skills=frozenset(str(s) for s in _list(raw.get("skills"), f"{where}.skills", problems)),
            sticky_window_s=_num(sticky, "window_s", 0.0, f"{where}.sticky", problems),
            weight=_num(raw, "weight", 0, where, problems, integer=True, minimum=-1000),
            aht_s=_num(raw, "aht_s", 180.0, where, problems, minimum=0.001),
            service_level_s=_num(raw, "service_level_s", 20.0, where, problems))
        if q.overflow.kind == "queue" and q.overflow.name == name:
            problems.append(f"{where}.overflow: a queue cannot overflow into itself")
        if q.periodic_every_s and not q.periodic_prompts:
            problems.append(f"{where}.periodic: every_s without prompts")
        queues[name] = q
    if problems:
        raise ConfigError(source, problems)
    return Centre(queues, agents)


def load_queues(path: str) -> Centre:
    """Read and check a queue file (YAML)."""
    if not os.path.exists(path):
        raise ConfigError(path, ["file not found"])
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(path, [f"not valid YAML: {str(e).splitlines()[0]}"]) from None
    except OSError as e:
        raise ConfigError(path, [e.strerror or str(e)]) from None
    return parse_queues(data, path)
