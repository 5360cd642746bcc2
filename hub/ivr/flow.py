"""IVR flows as data: a YAML file of nodes, checked with every problem and its place.

The format, with a full example, is in docs/ivr.md; the sample is ``hub/ivr/flows/hotline.yaml``.
``load_flow(path)`` reads and checks a flow and returns a ``Flow``; ``check_flow(raw, …)`` checks
one already parsed.  Both raise ``FlowError`` listing every problem as ``file:line: node: what``,
the way the network file is checked (``hub.network.file``).

Besides the fields of each node, the checker refuses a flow that could trap a caller:

* a node from which no ending (transfer, voicemail, hangup) can be reached (a dead end);
* a cycle of automatic steps (announcements, branches, services, schedules, and a menu's or a
  collection's way out after its last retry): a silent caller would go round it for ever.
  Cycles through a key the caller chooses are fine (``9`` for "hear the menu again").

Unreachable nodes are refused too: a node nobody can reach is a mistake in waiting.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from contract.clock import ZoneError, parse_utc_offset
from hub.ivr.errors import FlowError
from hub.ivr.say import BUILTIN_PROMPTS
from hub.ivr.schedule import Schedule, check_schedule

KINDS = ("announce", "menu", "collect", "service", "branch", "set", "schedule", "transfer", "voicemail",
         "hangup")
ENDINGS = ("transfer", "voicemail", "hangup")
SERVICES = ("track", "quote", "nearest_site", "authenticate", "my_orders", "pickup_order")
SAY_KINDS = ("digits", "number", "amount", "weight", "time", "date")
BUILTIN_VARS = ("caller", "callee")
KEYS = tuple("0123456789*#")
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,99}$")
_VAR = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_TEMPLATE = re.compile(r"\{([^{}]*)\}")

# what every kind of node may carry: field -> required
FIELDS: dict[str, dict[str, bool]] = {
    "announce": {"play": True, "next": True},
    "menu": {"play": True, "keys": True, "timeout_s": False, "retries": False, "invalid": False,
             "no_input": False, "exhausted": True},
    "collect": {"play": True, "into": True, "min": False, "max": True, "terminator": False, "timeout_s": False,
                "retries": False, "invalid": False, "no_input": False, "next": True, "exhausted": True},
    "service": {"service": True, "next": True, "fail": False, "play": False},
    "branch": {"var": True, "cases": True, "default": True},
    "set": {"vars": True, "next": True},
    "schedule": {"schedule": True, "open": True, "closed": True, "break": False, "holiday": False},
    "transfer": {"play": False, "queue": False, "seat": False, "number": False},
    "voicemail": {"play": True, "box": False, "max_s": False, "after": False},
    "hangup": {"play": False},
}
# what a service reads (variables) and writes
SERVICE_VARS = {"track": (("waybill",), ()), "quote": (("origin", "dest", "weight"), ("quote_cents",)),
                "nearest_site": (("area",), ("site",)), "authenticate": (("pin",), ("customer",)),
                "my_orders": (("customer",), ()), "pickup_order": (("area", "parcels"), ("pickup_code",))}


class _LineLoader(yaml.SafeLoader):
    """Safe YAML whose mappings remember the line of each key (1-based)."""


class LineDict(dict):
    line: int = 0
    key_lines: dict

    def line_of(self, key) -> int:
        return self.key_lines.get(key, self.line)


def _mapping(loader, node):
    loader.flatten_mapping(node)
    d = LineDict()
    d.line = node.start_mark.line + 1
    d.key_lines = {}
    for k_node, v_node in node.value:
        k = loader.construct_object(k_node, deep=True)
        try:
            hash(k)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a key that is not text",
                                                    k_node.start_mark) from None
        d[k] = loader.construct_object(v_node, deep=True)
        d.key_lines[k] = k_node.start_mark.line + 1
    return d


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@dataclass
class Flow:
    """A checked flow: nodes as plain dicts (normalised: every optional field filled in)."""
    name: str
    start: str
    nodes: dict[str, dict]
    prompts: dict[str, str]                  # prompt id -> text for the speech synthesiser
    variables: dict[str, str]
    schedules: dict[str, Schedule]
    tz_offset_min: int = 480
    voice: str = "cmn"
    prompts_dir: str = "prompts"             # absolute once loaded from a file
    source: str = "flow"
    lines: dict[str, int] = field(default_factory=dict)

    def prompt_ids(self) -> list[str]:
        """Every fixed prompt the flow plays (not the ones services and ``say`` items add)."""
        out = []
        for n in self.nodes.values():
            for key in ("play", "invalid", "no_input", "after"):
                for item in n.get(key) or []:
                    if isinstance(item, str) and item not in out:
                        out.append(item)
        return out


def edges(node: dict) -> tuple[list[str], list[str]]:
    """``(by_caller, automatic)``: the nodes a node leads to on a caller's key or digits, and the
    ones it goes to on its own (a silent caller's way)."""
    kind = node["type"]
    if kind == "announce" or kind == "set":
        return [], [node["next"]]
    if kind == "menu":
        return list(node["keys"].values()), [node["exhausted"]]
    if kind == "collect":
        return [node["next"]], [node["exhausted"]]
    if kind == "service":
        return [], list(dict.fromkeys([node["next"], node["fail"]]))
    if kind == "branch":
        return [], list(dict.fromkeys([*node["cases"].values(), node["default"]]))
    if kind == "schedule":
        return [], list(dict.fromkeys([node["open"], node["closed"], node["break"], node["holiday"]]))
    return [], []


def read_marked(path: str) -> tuple[object, str | None]:
    """The YAML file at ``path`` parsed with line marks (``LineDict``): ``(raw, None)``, or
    ``(None, problem)`` when it is missing, not YAML or not UTF-8.  Work-order flows read theirs
    with it too."""
    if not os.path.exists(path):
        return None, "file not found"
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_LineLoader), None   # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        return None, f"not valid YAML: {' '.join(str(e).split())}"
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text: {e}"


def load_flow(path: str) -> Flow:
    """Read and check the flow file at ``path`` (``FlowError`` with every problem)."""
    raw, problem = read_marked(path)
    if problem:
        raise FlowError(path, [problem])
    return check_flow(raw, path, os.path.dirname(os.path.abspath(path)))


def check_flow(raw, source: str = "flow", base_dir: str = ".") -> Flow:
    """Check a parsed flow (``raw``: from ``yaml.load`` with line marks, or any plain dicts)."""
    problems: list[str] = []

    def line(d, key=None) -> int:
        return d.line_of(key) if isinstance(d, LineDict) else 0

    def at(d, key=None) -> str:
        n = line(d, key)
        return f"{source}:{n}" if n else source

    if not isinstance(raw, dict):
        raise FlowError(source, ["the top level must be a mapping with start and nodes"])
    known = {"flow", "start", "nodes", "prompts", "variables", "schedules", "timezone", "voice", "prompts_dir"}
    for key in raw:
        if key not in known:
            problems.append(f"{at(raw, key)}: unknown section {key!r} (known: {', '.join(sorted(known))})")
    tz = 480
    if raw.get("timezone") is not None:
        try:
            tz = parse_utc_offset(raw["timezone"])
        except ZoneError:
            problems.append(f"{at(raw, 'timezone')}: timezone {raw['timezone']!r} is not a UTC offset like \"+08:00\"")

    prompts: dict[str, str] = {}
    praw = raw.get("prompts") or {}
    if not isinstance(praw, dict):
        problems.append(f"{at(raw, 'prompts')}: prompts must map prompt ids to the text to speak")
        praw = {}
    for pid, text in praw.items():
        if not _ID.match(str(pid)):
            problems.append(f"{at(praw, pid)}: prompt id {pid!r} may use letters, digits, _ . / - only")
        elif not isinstance(text, (str, int)) or not str(text).strip():
            problems.append(f"{at(praw, pid)}: prompt {pid}: the text to speak is missing")
        else:
            prompts[str(pid)] = str(text).strip()

    variables: dict[str, str] = {}
    vraw = raw.get("variables") or {}
    if not isinstance(vraw, dict):
        problems.append(f"{at(raw, 'variables')}: variables must map names to starting values")
        vraw = {}
    for k, v in vraw.items():
        if not _VAR.match(str(k)) or k in BUILTIN_VARS:
            problems.append(f"{at(vraw, k)}: variable {k!r}: names are lower-case letters, digits and _ "
                            f"({', '.join(BUILTIN_VARS)} are set by the call)")
        else:
            variables[str(k)] = "" if v is None else str(v)

    schedules: dict[str, Schedule] = {}
    sraw = raw.get("schedules") or {}
    if not isinstance(sraw, dict):
        problems.append(f"{at(raw, 'schedules')}: schedules must map names to work hours")
        sraw = {}
    for name, s in sraw.items():
        schedules[str(name)] = check_schedule(str(name), s, at(sraw, name), base_dir, problems)

    nraw = raw.get("nodes")
    if not isinstance(nraw, dict) or not nraw:
        problems.append(f"{at(raw, 'nodes')}: nodes must be a non-empty mapping of node names to nodes")
        nraw = {}
    start = str(raw.get("start") or "").strip()
    if not start:
        problems.append(f"{at(raw)}: start (the first node) is missing")
    elif start not in nraw:
        problems.append(f"{at(raw, 'start')}: start names {start!r}, which is not a node")

    nodes: dict[str, dict] = {}
    lines: dict[str, int] = {}
    assigned = set(variables) | set(BUILTIN_VARS)
    var_uses: list[tuple[str, str, str]] = []          # (place, node, var)
    refs: list[tuple[str, str, str, str]] = []         # (place, node, field, target)

    def play_list(name, n, key, place) -> list:
        v = n.get(key)
        if v is None:
            return []
        if isinstance(v, (str, dict)):
            v = [v]
        if not isinstance(v, list):
            problems.append(f"{place}: {name}: {key} must be a prompt id or a list of them")
            return []
        out = []
        for item in v:
            if isinstance(item, str) and _ID.match(item):
                out.append(item)
            elif isinstance(item, dict) and set(item) <= {"say", "var", "value"} and "say" in item:
                if item["say"] not in SAY_KINDS:
                    problems.append(f"{place}: {name}: say {item['say']!r} is not one of {', '.join(SAY_KINDS)}")
                elif ("var" in item) == ("value" in item):
                    problems.append(f"{place}: {name}: say {item['say']} needs var or value (one of them)")
                else:
                    if "var" in item:
                        var_uses.append((place, name, str(item["var"])))
                    out.append({k: str(v) for k, v in item.items()})
            else:
                problems.append(f"{place}: {name}: {key}: {item!r} is neither a prompt id nor {{say: …, var: …}}")
        return out

    def number(name, n, key, place, default, lo, hi) -> int:
        v = n.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            problems.append(f"{place}: {name}: {key} must be a number from {lo} to {hi}, not {v!r}")
            return default
        return v

    def ref(name, n, key, place, target=None):
        t = n.get(key) if target is None else target
        if t is None or str(t).strip() == "":
            return None
        refs.append((place, name, key, str(t)))
        return str(t)

    for name, n in nraw.items():
        name = str(name)
        place = at(nraw, name)
        lines[name] = line(nraw, name)
        if not isinstance(n, dict):
            problems.append(f"{place}: {name}: a node is a mapping with a type")
            continue
        kind = n.get("type")
        if kind not in KINDS:
            problems.append(f"{place}: {name}: type {kind!r} is not one of {', '.join(KINDS)}")
            continue
        allowed = FIELDS[kind]
        for k in n:
            if k != "type" and k not in allowed:
                problems.append(f"{at(n, k)}: {name}: {kind} has no field {k!r} (it has {', '.join(allowed)})")
        for k, required in allowed.items():
            if required and (n.get(k) is None or n.get(k) == ""):
                problems.append(f"{place}: {name}: {kind} needs {k}")
        out = {"type": kind, "play": play_list(name, n, "play", place)}
        if kind in ("announce", "set", "service", "collect"):
            out["next"] = ref(name, n, "next", at(n, "next"))
        if kind in ("menu", "collect"):
            out["timeout_s"] = number(name, n, "timeout_s", place, 5, 1, 120)
            out["retries"] = int(number(name, n, "retries", place, 3, 1, 10))
            out["invalid"] = play_list(name, n, "invalid", place)
            out["no_input"] = play_list(name, n, "no_input", place)
            out["exhausted"] = ref(name, n, "exhausted", at(n, "exhausted"))
        if kind == "menu":
            keys = n.get("keys")
            out["keys"] = {}
            if not isinstance(keys, dict) or not keys:
                if keys is not None:
                    problems.append(f"{at(n, 'keys')}: {name}: keys must map keys (0-9 * #) to nodes")
            else:
                for key, target in keys.items():
                    k = str(key)
                    if k not in KEYS:
                        problems.append(f"{at(keys, key)}: {name}: key {key!r} is not one of 0-9 * #")
                        continue
                    out["keys"][k] = ref(name, keys, k, at(keys, key), target)
        elif kind == "collect":
            into = str(n.get("into") or "")
            if into and not _VAR.match(into):
                problems.append(f"{at(n, 'into')}: {name}: into {into!r} is not a variable name")
            out["into"] = into
            assigned.add(into)
            out["max"] = int(number(name, n, "max", place, 1, 1, 40))
            out["min"] = int(number(name, n, "min", place, 1, 1, 40))
            if out["min"] > out["max"]:
                problems.append(f"{place}: {name}: min ({out['min']}) is more than max ({out['max']})")
            term = str(n.get("terminator", "#"))
            if term not in ("#", "*", ""):
                problems.append(f"{at(n, 'terminator')}: {name}: terminator must be \"#\", \"*\" or \"\" (none)")
            out["terminator"] = term
        elif kind == "service":
            svc = n.get("service")
            if svc not in SERVICES:
                if svc is not None:
                    problems.append(f"{at(n, 'service')}: {name}: service {svc!r} is not one of {', '.join(SERVICES)}")
            else:
                for v in SERVICE_VARS[svc][0]:
                    var_uses.append((place, name, v))
                assigned.update(SERVICE_VARS[svc][1])
            out["service"] = svc
            out["fail"] = ref(name, n, "fail", at(n, "fail")) or out["next"]
        elif kind == "branch":
            var = str(n.get("var") or "")
            if var:
                var_uses.append((place, name, var))
            out["var"] = var
            cases = n.get("cases")
            out["cases"] = {}
            if isinstance(cases, dict) and cases:
                for value, target in cases.items():
                    out["cases"][str(value)] = ref(name, cases, value, at(cases, value), target)
            elif cases is not None:
                problems.append(f"{at(n, 'cases')}: {name}: cases must map values to nodes")
            out["default"] = ref(name, n, "default", at(n, "default"))
        elif kind == "set":
            vs = n.get("vars")
            out["vars"] = {}
            if isinstance(vs, dict) and vs:
                for k, v in vs.items():
                    if not _VAR.match(str(k)) or k in BUILTIN_VARS:
                        problems.append(f"{at(vs, k)}: {name}: {k!r} is not a variable name you may set")
                        continue
                    out["vars"][str(k)] = "" if v is None else str(v)
                    assigned.add(str(k))
                    for used in _TEMPLATE.findall(str(v)):
                        var_uses.append((at(vs, k), name, used))
            elif vs is not None:
                problems.append(f"{at(n, 'vars')}: {name}: vars must map variable names to values")
        elif kind == "schedule":
            sch = str(n.get("schedule") or "")
            if sch and sch not in schedules:
                problems.append(f"{at(n, 'schedule')}: {name}: schedule {sch!r} is not in schedules")
            out["schedule"] = sch
            for k in ("open", "closed"):
                out[k] = ref(name, n, k, at(n, k))
            for k in ("break", "holiday"):
                out[k] = ref(name, n, k, at(n, k)) or out["closed"]
        elif kind == "transfer":
            targets = [k for k in ("queue", "seat", "number") if n.get(k) not in (None, "")]
            if len(targets) != 1:
                problems.append(f"{place}: {name}: a transfer names one of queue, seat or number")
            else:
                out["to"], out["target"] = targets[0], str(n[targets[0]]).strip()
                for used in _TEMPLATE.findall(out["target"]):
                    var_uses.append((place, name, used))
                if out["to"] == "number" and not _TEMPLATE.search(out["target"]) \
                        and not re.fullmatch(r"\+?[0-9]{3,20}", out["target"]):
                    problems.append(f"{at(n, 'number')}: {name}: number {out['target']!r} is not a phone number")
        elif kind == "voicemail":
            out["box"] = str(n.get("box") or "default")
            out["max_s"] = number(name, n, "max_s", place, 120, 5, 600)
            out["after"] = play_list(name, n, "after", place)
        nodes[name] = out

    for place, name, key, target in refs:
        if target not in nraw:
            problems.append(f"{place}: {name}: {key} names {target!r}, which is not a node")
    for place, name, var in var_uses:
        if var not in assigned:
            problems.append(f"{place}: {name}: variable {var!r} is never set (not in variables, no collect "
                            "into it, no set node or service gives it)")

    flow = Flow(name=str(raw.get("flow") or os.path.splitext(os.path.basename(source))[0]), start=start,
                nodes=nodes, prompts=prompts, variables=variables, schedules=schedules, tz_offset_min=tz,
                voice=str(raw.get("voice") or "cmn"),
                prompts_dir=os.path.join(base_dir, str(raw.get("prompts_dir") or "prompts")),
                source=source, lines=lines)
    if not problems and len(nodes) == len(nraw):
        problems.extend(walk_problems(flow))
    if not problems:
        for pid in flow.prompt_ids():
            if pid not in prompts and not os.path.exists(os.path.join(flow.prompts_dir, pid + ".wav")):
                if pid not in BUILTIN_PROMPTS:
                    problems.append(f"{source}: prompt {pid!r} has no text in prompts and no file "
                                    f"{os.path.join(flow.prompts_dir, pid + '.wav')}")
    if problems:
        raise FlowError(source, problems)
    return flow


def walk_problems(flow: Flow) -> list[str]:
    """Dead ends, silent loops and unreachable nodes of a flow whose references all resolve."""
    def at(name):
        n = flow.lines.get(name, 0)
        return f"{flow.source}:{n}" if n else flow.source

    problems = []
    out = {name: edges(n) for name, n in flow.nodes.items()}
    reach, todo = {flow.start}, [flow.start]
    while todo:
        for t in (lambda e: e[0] + e[1])(out[todo.pop()]):
            if t not in reach:
                reach.add(t)
                todo.append(t)
    for name in flow.nodes:
        if name not in reach:
            problems.append(f"{at(name)}: {name}: no caller can reach this node from {flow.start}")
    # nodes from which an ending can be reached: backwards from the endings
    back: dict[str, set[str]] = {name: set() for name in flow.nodes}
    for name, (keyed, auto) in out.items():
        for t in keyed + auto:
            back[t].add(name)
    good = {name for name, n in flow.nodes.items() if n["type"] in ENDINGS}
    todo = list(good)
    while todo:
        for s in back[todo.pop()]:
            if s not in good:
                good.add(s)
                todo.append(s)
    for name in flow.nodes:
        if name in reach and name not in good:
            problems.append(f"{at(name)}: {name}: dead end: no transfer, voicemail or hang-up can be "
                            "reached from here")
    # cycles of automatic steps: an iterative depth-first walk (a long flow needs no deep stack)
    colour: dict[str, int] = {}          # 1: on the current path, 2: done
    reported: set[frozenset] = set()
    for root in flow.nodes:
        if root not in reach or root in colour:
            continue
        path, stack = [root], [iter(out[root][1])]
        colour[root] = 1
        while stack:
            t = next(stack[-1], None)
            if t is None:
                colour[path.pop()] = 2
                stack.pop()
            elif colour.get(t) == 1:
                loop = path[path.index(t):]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    problems.append(f"{at(t)}: {t}: loop without a way out for a silent caller: "
                                    + " -> ".join(loop + [t]))
            elif t not in colour:
                colour[t] = 1
                path.append(t)
                stack.append(iter(out[t][1]))
    return problems
