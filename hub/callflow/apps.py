"""The dial plan's ``ivr FLOW`` and ``queue NAME`` targets, registered on a running PBX.

``install(pbx, flows, centre, ...)`` (``scanhub pbx run --flow … --queues …`` calls it once SIP
listens) registers both kinds in the switch's application registry.  A call routed to one is
answered by an :class:`~hub.callflow.leg.AppLeg`; the IVR program or the queue program drives
it from then on.  Keys pressed by the caller (``dtmf`` events of its ``a`` leg) go to the
program the call is in.  Everything runs on the PBX's event loop.
"""
from __future__ import annotations

import logging
import os

from hub.callflow.errors import CallflowError
from hub.callflow.ivr import IvrProgram
from hub.callflow.leg import AppLeg
from hub.callflow.queue import Acd, QueueProgram
from hub.ivr import audio, prompts

log = logging.getLogger("scanhub.callflow")


class CallFlows:
    def __init__(self, switch, loop, flows: dict, *, voicemail_dir: str = "voicemail", services=None,
                 clock=None, prompts_dir: str | None = None) -> None:
        self.switch = switch
        self.loop = loop
        self.flows = flows                      # name -> hub.ivr.flow.Flow
        self.voicemail_dir = voicemail_dir
        self._services = services
        self.clock = clock
        self.prompts_dir = prompts_dir or (next(iter(flows.values())).prompts_dir if flows else "prompts")
        self.acd: Acd | None = None
        self.programs: dict[str, object] = {}   # call id -> the program of its app leg
        self._audio: dict[str, bytes] = {}
        switch.apps["ivr"] = self.ivr_app
        switch.apps["queue"] = self.queue_app
        switch.listeners.append(self._on_event)

    # ------------------------------------------------------------ the registry's entries
    def ivr_app(self, call, flow_name: str):
        flow = self.flows.get(flow_name)
        if flow is None:
            call.event("dialplan", None, error=f"no IVR flow {flow_name!r} is loaded "
                                               f"(loaded: {', '.join(sorted(self.flows)) or 'none'})")
            return None
        leg = AppLeg(call, f"ivr {flow_name}", self.loop)
        prog = IvrProgram(self, call, leg, flow)
        leg.program = prog
        self.programs[call.id] = prog
        leg.start()
        prog.start()
        return leg

    def queue_app(self, call, queue: str):
        if self.acd is None or queue not in self.acd.engine.centre.queues:
            call.event("dialplan", None, error=f"no queue {queue!r} is loaded")
            return None
        leg = AppLeg(call, f"queue {queue}", self.loop)
        leg.start()
        self._enter_queue(call, leg, queue)
        return leg

    def _enter_queue(self, call, leg, queue: str) -> None:
        self.acd.enter(call, leg, queue)
        self.programs[call.id] = self.acd.programs[call.id]

    # ------------------------------------------------------------ services for the programs
    def services(self):
        if self._services is not None:
            return self._services
        from hub.ivr.selfservice import HubServices
        return HubServices(clock=self.clock)

    def prompt(self, flow, pid: str) -> bytes:
        path = prompts.path_of(flow, pid) if flow is not None else \
            os.path.join(self.prompts_dir, *pid.split("/")) + ".wav"
        data = self._audio.get(path)
        if data is None:
            data = self._audio[path] = audio.prompt_samples(path)
        return data

    def save_voicemail(self, call, action: dict) -> None:
        from hub.ivr import voicemail
        try:
            row = voicemail.save(action, self.voicemail_dir)
        except Exception as e:               # the store or the disk failed: the CDR says so
            log.exception("saving voicemail of call %s", call.id)
            call.event("error", None, error=f"voicemail not saved: {e}")
            return
        call.event("voicemail", None, id=row["id"], box=row["box"], file=row["file"], seconds=row["seconds"])

    def transfer(self, prog: IvrProgram, to: str, target: str) -> None:
        call, leg = prog.call, prog.leg
        if to == "queue":
            if self.acd is None or target not in self.acd.engine.centre.queues:
                call.event("error", None, error=f"IVR transfer to queue {target!r}, which is not loaded")
                leg.hangup("normal")
                return
            self._enter_queue(call, leg, target)
            return
        self.programs.pop(call.id, None)
        leg.program = None
        self.switch.transfer(call, leg, target)       # seat or number: through the dial plan
        if leg.active:
            leg.hangup("normal")

    def route_out(self, prog: QueueProgram, target) -> None:
        """A caller the queue sent away (``hub.acd.config.Target``): into a flow at the place
        ``entry_of`` finds (an IVR node, a voicemail box), or ended; the queue log already has the
        event the callback list is derived from."""
        call, leg = prog.call, prog.leg
        place = entry_of(self.flows, target)
        if place is not None and leg.active:
            flow, node = place
            ivr = IvrProgram(self, call, leg, flow, node)
            leg.program = ivr
            self.programs[call.id] = ivr
            ivr.start()
            return
        if target.kind in ("ivr", "voicemail"):
            log.warning("call %s: the queue sent it to %s, which no loaded flow has: hung up", call.id, target)
        leg.program = None
        if leg.active:
            leg.hangup("normal")

    # ------------------------------------------------------------ keys
    def _on_event(self, call, ev) -> None:
        if ev.kind == "dtmf" and ev.leg == "a":
            prog = self.programs.get(call.id)
            if prog is not None:
                key = ev.data.get("key")
                self.loop.call_soon(lambda: prog.digit(key) if self.programs.get(call.id) is prog else None)
        elif ev.kind == "call-end":
            self.programs.pop(call.id, None)


def load(flow_files=(), queues_file: str | None = None):
    """The flows (by name) and the call center of the files, every problem as ``CallflowError``."""
    from hub.acd.config import load_queues
    from hub.ivr.flow import load_flow
    flows = {}
    for path in flow_files:
        flow = load_flow(path)
        if flow.name in flows:
            raise CallflowError(f"{path}: flow {flow.name!r} is already loaded from another file")
        flows[flow.name] = flow
    centre = load_queues(queues_file) if queues_file else None
    return flows, centre


def entry_of(flows: dict, target) -> tuple | None:
    """Where a caller a queue sent to ``target`` (``hub.acd.config.Target``) enters the loaded
    ``flows``: ``(flow, node)`` for ``ivr:NODE`` (that node of the first flow holding it),
    ``ivr:FLOW.NODE``, ``ivr:FLOW`` (its start, ``node`` None) and ``voicemail:BOX`` (the first
    voicemail node recording into that box, in the flows' order); None for other targets or when
    no flow has the place."""
    if target.kind == "ivr" and target.name:
        flow_name, dot, node = target.name.partition(".")
        if dot:
            flow = flows.get(flow_name)
            return (flow, node) if flow is not None and node in flow.nodes else None
        for flow in flows.values():
            if target.name in flow.nodes:
                return flow, target.name
        return (flows[target.name], None) if target.name in flows else None
    if target.kind == "voicemail":
        for flow in flows.values():
            for name, n in flow.nodes.items():
                if n["type"] == "voicemail" and n["box"] == (target.name or "default"):
                    return flow, name
    return None


def check_targets(flows: dict, centre) -> list[str]:
    """Every queue's ``ivr:`` and ``voicemail:`` target names a place in the loaded flows."""
    problems = []
    for name, q in (centre.queues.items() if centre is not None else ()):
        targets = [("overflow", q.overflow), ("when_full", q.when_full), ("when_empty", q.when_empty),
                   *((f"exit_keys.{k}", t) for k, t in q.exit_keys.items())]
        for key, t in targets:
            if t.kind in ("ivr", "voicemail") and entry_of(flows, t) is None:
                what = "a voicemail node recording into box" if t.kind == "voicemail" else "a node or flow"
                problems.append(f"queue {name}: {key} {t} needs {what} {t.name!r} in the loaded flows "
                                f"(loaded: {', '.join(sorted(flows)) or 'none'})")
    return problems


def check_dialplan(config, flows: dict, centre) -> None:
    """Every ``ivr FLOW`` and ``queue NAME`` of the dial plan names a loaded flow or queue, and
    every queue's ``ivr:`` and ``voicemail:`` target a place in the flows."""
    problems = []
    for rule in config.dialplan:
        for key in ("to", "on_busy", "on_no_answer", "on_unregistered"):
            t = getattr(rule, key)
            if t is None:
                continue
            if t.kind == "ivr" and t.arg not in flows:
                problems.append(f"dialplan[{rule.index}]: {key} names IVR flow {t.arg!r}, which no --flow file "
                                f"holds (loaded: {', '.join(sorted(flows)) or 'none'})")
            if t.kind == "queue" and (centre is None or t.arg not in centre.queues):
                problems.append(f"dialplan[{rule.index}]: {key} names queue {t.arg!r}, which the --queues file "
                                "does not have" if centre is not None else
                                f"dialplan[{rule.index}]: {key} names queue {t.arg!r} but no --queues file is given")
    problems += check_targets(flows, centre)
    if problems:
        raise CallflowError("; ".join(problems))


def install(pbx, flows: dict, centre=None, *, queue_log: str | None = None, voicemail_dir: str = "voicemail",
            logins: dict[str, str] | None = None, hold_music: str | None = None, services=None, clock=None,
            sink=None) -> CallFlows:
    """Register the applications on the running ``pbx`` (from any thread, the loop's own too, e.g.
    in ``Pbx.on_started``); returns them."""
    check_dialplan(pbx.config, flows, centre)
    music = b""
    if hold_music:
        try:
            music = audio.prompt_samples(hold_music)
        except audio.IvrError as e:
            raise CallflowError(f"hold music: {e}") from None

    def on_loop():
        apps = CallFlows(pbx.switch, pbx.loop, flows, voicemail_dir=voicemail_dir, services=services, clock=clock)
        if centre is not None:
            apps.acd = Acd(apps, centre, queue_log=queue_log, hold_music=music, sink=sink)
            for agent, seat in (logins or {}).items():
                apps.acd.agent("login", agent, seat)
        return apps
    import asyncio
    try:
        here = asyncio.get_running_loop() is pbx.loop
    except RuntimeError:
        here = False
    return on_loop() if here else pbx.call(on_loop)
