"""A simulated carrier switch placing calls into our side over a simulated span pair.

``run_calls(protocol, calls, …)`` builds a virtual span pair (``drivers.e1_card.virtual.virtual_pair``), runs the carrier
(span a) and the hub side (span b) with the real signalling stacks (China No.1 or PRI), places
``calls`` calls with caller and called numbers (at most ``concurrent`` at a time), lets the hub
side answer each one, holds it ``hold_ms`` and clears it, and returns the outcome: setup times
(seizure/SETUP to accepted), answer times, failures by reason, simulated and CPU time.
"""
from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field

from drivers.e1_card.errors import SignallingError

from drivers.e1_card.virtual import virtual_pair



@dataclass
class CallRunResult:
    protocol: str
    placed: int = 0
    answered: int = 0
    failures: dict = field(default_factory=dict)
    setup_ms: list = field(default_factory=list)
    sim_ms: int = 0
    cpu_s: float = 0.0
    trace_lines: int = 0

    def summary(self) -> dict:
        s = self.setup_ms
        return {"protocol": self.protocol, "placed": self.placed, "answered": self.answered,
                "failed": sum(self.failures.values()), "failures": dict(self.failures),
                "setup_ms": {"min": min(s), "median": statistics.median(s), "max": max(s)} if s else None,
                "simulated_ms": self.sim_ms, "cpu_s": round(self.cpu_s, 3)}


def run_calls(protocol: str, calls: int, *, concurrent: int = 30, hold_ms: int = 2000, seed: int = 1,
              answer_delay_ms: int = 0, timeout_ms: int = 600_000, on_trace=None, realtime: bool = False,
              dnis_len: int = 8) -> CallRunResult:
    if calls < 1:
        raise SignallingError("place at least one call")
    if not 1 <= concurrent <= 30:
        raise SignallingError("concurrent calls must be 1..30 on one E1")
    rng = random.Random(seed)
    cpu0 = time.process_time()
    pair, carrier, hub = virtual_pair(protocol, seed=seed, realtime=realtime, max_dnis=dnis_len)
    if on_trace is not None:
        carrier.trace_listeners.append(on_trace)
        hub.trace_listeners.append(on_trace)
    res = CallRunResult(protocol)
    active: list = []
    answering: list = []
    hangups: list = []  # (time, call)
    t_start = pair.now_ms

    def on_hub(event, call):
        if event == "offered":
            answering.append((pair.now_ms + answer_delay_ms, call))

    def on_carrier(event, call):
        if event == "answered":
            res.answered += 1
            hangups.append((pair.now_ms + hold_ms, call))
        elif event == "failed":
            res.failures[call.reason] = res.failures.get(call.reason, 0) + 1

    hub.listeners.append(on_hub)
    carrier.listeners.append(on_carrier)
    placed = 0
    while pair.now_ms - t_start < timeout_ms:
        while placed < calls and sum(1 for c in active if c.state in ("setup", "accepted", "answered")) < concurrent:
            dnis = "".join(rng.choice("0123456789") for _ in range(dnis_len))
            ani = "1" + "".join(rng.choice("0123456789") for _ in range(10))
            try:
                active.append(carrier.dial(dnis, ani))
            except SignallingError:
                break
            placed += 1
        now = pair.now_ms
        for item in [a for a in answering if a[0] <= now]:
            answering.remove(item)
            call = item[1]
            if protocol == "pri":
                if call.state == "offered":
                    hub.answer(call)
            elif hub.channels[call.channel].state == "in_accepted":
                hub.channels[call.channel].answer()
        for item in [h for h in hangups if h[0] <= now]:
            hangups.remove(item)
            call = item[1]
            if call.state == "answered":
                if protocol == "pri":
                    carrier.hangup(call)
                else:
                    carrier.channels[call.channel].hangup()
        if placed >= calls and all(c.state in ("cleared", "failed") for c in active) and _quiet(protocol, carrier, hub):
            break
        pair.step()
    res.placed = placed
    res.setup_ms = [c.setup_ms for c in active if c.setup_ms is not None]
    res.sim_ms = pair.now_ms - t_start
    res.cpu_s = time.process_time() - cpu0
    return res


def _quiet(protocol, carrier, hub) -> bool:
    if protocol == "pri":
        return not carrier._calls and not hub._calls
    return all(ch.state == "idle" for ch in carrier.channels.values()) and \
        all(ch.state == "idle" for ch in hub.channels.values())
