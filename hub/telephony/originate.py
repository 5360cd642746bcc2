"""Calls the hub places itself (outbound campaigns): ``originate`` opens a call whose ``a`` leg is
the hub's own side and routes the number through the dial plan like any dialled number.

The ``a`` leg (:class:`OriginLeg`) is answered from the start and carries no media of its own;
the switch's usual path then opens the ``b`` leg (a SIP or E1 trunk), times the ring out, bridges
on answer and writes the CDR at the end (direction ``outbound``, origin ``originate``).
``on_event(call, event)`` hears the call's events (``leg-answered``, ``call-end`` …) on the
loop's thread; ``hangup(call)`` ends it from our side.  Everything runs on the PBX's loop
(``Pbx.call(originate, …)`` from another thread).
"""
from __future__ import annotations

from hub.telephony.model import Leg

ORIGIN = "originate"


class OriginLeg(Leg):
    kind = "origin"

    def __init__(self, call) -> None:
        super().__init__(call, trunk=None, seat=None, channel="originate", peer=call.caller, direction="in")
        self.state = "answered"

    def answer(self) -> None:
        pass

    def hangup(self, cause: str = "normal") -> None:
        self._ended(cause)


def originate(switch, number: str, *, caller: str = "", on_event=None):
    """Place a call to ``number`` (routed by the dial plan from origin ``originate``); the Call."""
    call = switch.new_call(origin=ORIGIN, caller=caller, callee=number)
    call.direction = "outbound"
    if on_event is not None:
        def listen(c, ev, call=call):
            if c is call:
                on_event(c, ev)
        switch.listeners.append(listen)
        call._originate_listener = listen
    OriginLeg(call)
    switch.incoming(call)
    return call


def hangup(switch, call) -> None:
    """End an originated call from our side (the callee gets BYE or CANCEL)."""
    if not call.ended and call.a.active:
        call.a.hangup("normal")


def forget(switch, call) -> None:
    listen = getattr(call, "_originate_listener", None)
    if listen in switch.listeners:
        switch.listeners.remove(listen)
