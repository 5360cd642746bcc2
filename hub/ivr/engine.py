"""The IVR engine: one pure state machine per call, driven by events, answering with actions.

The telephony service (or ``scanhub ivr try``, or a test) owns the call and drives it::

    eng = Engine(flow, services=HubServices(), clock=clock_ms)
    actions = eng.start(caller="13800000000", callee="95311")
    actions = eng.digit("1")          # a DTMF key, any time
    actions = eng.prompt_done()       # the last play action finished
    actions = eng.timeout()           # the timer of the last collect action fired
    actions = eng.recorded(path, ms)  # a record action finished (the WAV the driver wrote)
    actions = eng.hangup()            # the caller hung up

Each call returns a list of actions, plain dicts, to carry out in order (docs/ivr.md, "The
engine"); a new list replaces what the call was doing (stop the prompt that is playing, cancel
the timer).  ``eng.trail`` is every step and key with its time, for the call's CDR events;
``eng.path`` the nodes the caller went through; ``eng.result`` how the call left the IVR.
Nothing here does I/O but the injected ``services`` (self-service lookups).
"""
from __future__ import annotations

import re
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.ivr import say as _say
from hub.ivr.flow import Flow

MAX_AUTOMATIC_STEPS = 200       # a checked flow never gets near: the guard against a bug
_TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass
class ServiceResult:
    """What a self-service step answers: ``ok`` or ``fail``, the prompts to play, variables set."""
    outcome: str
    prompts: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    detail: dict = field(default_factory=dict)        # for the trail (what was looked up, found)


class Services:
    """The self-service interface the engine calls; ``hub.ivr.selfservice.HubServices`` answers
    from the hub's store.  The base answers ``fail`` to everything."""

    def run(self, name: str, variables: dict[str, str], tz_offset_min: int) -> ServiceResult:
        return ServiceResult("fail", detail={"reason": "no self-service here"})


def _wall_ms() -> int:
    return int(_time.time() * 1000)


class Engine:
    """One call's walk through ``flow``."""

    def __init__(self, flow: Flow, services: Services | None = None, clock: Callable[[], int] | None = None):
        self.flow = flow
        self.services = services or Services()
        self.clock = clock or _wall_ms
        self.variables: dict[str, str] = {}
        self.trail: list[dict] = []
        self.path: list[str] = []
        self.result: dict | None = None
        self.node: str | None = None
        self.phase = "idle"        # idle | playing | collecting | recording | ended
        self.tries = 0
        self.digits = ""
        self._after_play: str | None = None     # where an announcement goes once it was played
        self._hung_up_recording = False         # the caller hung up while leaving a message
        self.started_ms: int | None = None

    # ------------------------------------------------------------------ events
    def start(self, caller: str = "", callee: str = "", node: str | None = None) -> list[dict]:
        """Begin at the flow's start, or at ``node`` (a queue's overflow to ``ivr:FLOW.NODE`` or to a
        voicemail box enters there)."""
        if self.phase != "idle":
            return self._ignored("start")
        if node is not None and node not in self.flow.nodes:
            raise KeyError(f"no node {node!r} in flow {self.flow.name!r}")
        self.started_ms = self.clock()
        self.variables = dict(self.flow.variables, caller=str(caller), callee=str(callee))
        self._log("start", caller=str(caller), callee=str(callee), **({"entry": node} if node else {}))
        return self._enter(node or self.flow.start)

    def digit(self, key: str) -> list[dict]:
        key = str(key)
        if self.phase == "ended":
            return []
        if key not in _say.DIGITS_KEYS:
            return self._ignored("digit", key=key)
        n = self._n()
        if self.phase not in ("collecting",) and not (self.phase == "playing" and n["type"] in ("menu", "collect")):
            if self.phase == "recording" and key == "#":
                self._log("digit", key=key)
                return [{"action": "stop_recording"}]
            return self._ignored("digit", key=key)
        self._log("digit", key=key)
        self.phase = "collecting"
        if n["type"] == "menu":
            target = n["keys"].get(key)
            if target is None:
                return self._retry("invalid", key=key)
            return self._enter(target)
        # collect
        if key == n["terminator"] and n["terminator"]:
            return self._collected()
        if key in "*#":
            return self._retry("invalid", key=key)
        self.digits += key
        if len(self.digits) >= n["max"]:
            return self._collected()
        return []

    def prompt_done(self) -> list[dict]:
        if self.phase != "playing":
            return self._ignored("prompt_done") if self.phase != "ended" else []
        n = self._n()
        self._log("prompt_done")
        if n["type"] in ("menu", "collect"):
            self.phase = "collecting"
            return []
        return self._enter(self._after_play)

    def timeout(self) -> list[dict]:
        if self.phase not in ("collecting", "playing") or self._n()["type"] not in ("menu", "collect"):
            return self._ignored("timeout") if self.phase != "ended" else []
        self._log("timeout")
        n = self._n()
        if n["type"] == "collect" and self.digits:
            if len(self.digits) >= n["min"]:
                return self._collected()
            return self._retry("invalid", digits=self.digits)
        return self._retry("no_input")

    def recorded(self, path: str, duration_ms: int) -> list[dict]:
        hung_up = self.phase == "ended" and self._hung_up_recording
        if self.phase != "recording" and not hung_up:
            return self._ignored("recorded") if self.phase != "ended" else []
        n = self._n()
        self._log("recorded", path=str(path), duration_ms=int(duration_ms))
        save = {"action": "save_voicemail", "box": n["box"], "caller": self.variables.get("caller", ""),
                "callee": self.variables.get("callee", ""), "path": str(path), "duration_ms": int(duration_ms),
                "menu_path": list(self.path), "started_ms": self.started_ms, "recorded_ms": self.clock()}
        if hung_up:          # the caller left the message and hung up: keep it, nothing to play
            self._hung_up_recording = False
            self.result = {"end": "voicemail", "box": n["box"], "node": self.node, "caller_hung_up": True}
            return [save]
        return [save] + self._end({"end": "voicemail", "box": n["box"]}, self._prompts(n["after"]))

    def hangup(self) -> list[dict]:
        if self.phase == "ended":
            return []
        self._log("hangup")
        self._hung_up_recording = self.phase == "recording"
        self.phase = "ended"
        self.result = {"end": "caller_hangup", "node": self.node}
        return []

    # ------------------------------------------------------------------ the walk
    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    def _n(self) -> dict:
        return self.flow.nodes[self.node]

    def _log(self, event: str, **data) -> None:
        self.trail.append({"ms": self.clock(), "event": event, "node": self.node, **data})

    def _ignored(self, event: str, **data) -> list[dict]:
        self._log("ignored", what=event, **data)
        return []

    def _fill(self, text: str) -> str:
        return _TEMPLATE.sub(lambda m: self.variables.get(m.group(1), ""), text)

    def _prompts(self, items) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, str):
                out.append(item)
            else:
                value = self.variables.get(item["var"], "") if "var" in item else item["value"]
                out += _say.say(item["say"], value, self.flow.tz_offset_min)
        return out

    def _play(self, prompts: list[str], barge_in: bool) -> list[dict]:
        return [{"action": "play", "prompts": prompts, "barge_in": barge_in}] if prompts else []

    def _enter(self, name: str, steps: int = 0) -> list[dict]:
        actions: list[dict] = []
        while True:
            steps += 1
            if steps > MAX_AUTOMATIC_STEPS:
                self._log("loop_guard")
                return actions + self._end({"end": "hangup", "reason": "loop guard"}, [])
            self.node, self.tries, self.digits = name, 0, ""
            self.path.append(name)
            n = self._n()
            kind = n["type"]
            self._log("enter", type=kind)
            if kind in ("menu", "collect"):
                return actions + self._ask(self._prompts(n["play"]))
            if kind == "announce":
                return actions + self._wait(self._prompts(n["play"]), n["next"])
            if kind == "set":
                for k, v in n["vars"].items():
                    self.variables[k] = self._fill(v)
                self._log("set", vars={k: self.variables[k] for k in n["vars"]})
                name = n["next"]
            elif kind == "branch":
                value = self.variables.get(n["var"], "")
                name = n["cases"].get(value, n["default"])
                self._log("branch", var=n["var"], value=value, to=name)
            elif kind == "schedule":
                state = self.flow.schedules[n["schedule"]].state(self.clock(), self.flow.tz_offset_min)
                name = n["open" if state == "open" else state]
                self._log("schedule", state=state, to=name)
            elif kind == "service":
                try:
                    res = self.services.run(n["service"], dict(self.variables), self.flow.tz_offset_min)
                except Exception as e:          # a lookup that broke must not drop the caller
                    res = ServiceResult("fail", detail={"error": f"{type(e).__name__}: {e}"})
                self.variables.update(res.variables)
                target = n["next"] if res.outcome == "ok" else n["fail"]
                self._log("service", service=n["service"], outcome=res.outcome, to=target, **res.detail)
                prompts = self._prompts(n["play"]) + list(res.prompts)
                if prompts:
                    return actions + self._wait(prompts, target)
                name = target
            elif kind == "transfer":
                target = self._fill(n["target"])
                return actions + self._end({"end": "transfer", "to": n["to"], "target": target},
                                           self._prompts(n["play"]),
                                           {"action": "transfer", "to": n["to"], "target": target})
            elif kind == "voicemail":
                self.phase = "recording"
                return actions + self._play(self._prompts(n["play"]), False) + \
                    [{"action": "record", "box": n["box"], "max_ms": int(n["max_s"] * 1000), "stop_key": "#",
                      "beep": True}]
            else:            # hangup
                return actions + self._end({"end": "hangup"}, self._prompts(n["play"]))

    def _wait(self, prompts: list[str], then: str) -> list[dict]:
        """Play, then go on to ``then`` when the driver says the prompts are done."""
        if not prompts:
            return self._enter(then)
        self.phase, self._after_play = "playing", then
        return self._play(prompts, False)

    def _ask(self, prompts: list[str]) -> list[dict]:
        n = self._n()
        self.phase = "playing" if prompts else "collecting"
        want = 1 if n["type"] == "menu" else n["max"]
        return self._play(prompts, True) + [{
            "action": "collect", "max_digits": want, "min_digits": 1 if n["type"] == "menu" else n["min"],
            "terminator": n.get("terminator", ""), "timeout_ms": int(n["timeout_s"] * 1000)}]

    def _retry(self, why: str, **data) -> list[dict]:
        n = self._n()
        self.tries += 1
        self.digits = ""
        self._log(why, tries=self.tries, **data)
        if self.tries >= n["retries"]:
            self._log("exhausted", to=n["exhausted"])
            return self._enter(n["exhausted"])
        return self._ask(self._prompts(n[why]) + self._prompts(n["play"]))

    def _collected(self) -> list[dict]:
        n = self._n()
        got = self.digits
        if len(got) < n["min"]:
            return self._retry("invalid", digits=got)
        self.variables[n["into"]] = got
        self._log("collected", into=n["into"], digits=got)
        return self._enter(n["next"])

    def _end(self, result: dict, prompts: list[str], last: dict | None = None) -> list[dict]:
        self.phase = "ended"
        self.result = dict(result, node=self.node)
        self._log("end", **result)
        return self._play(prompts, False) + [last or {"action": "hangup"}]
