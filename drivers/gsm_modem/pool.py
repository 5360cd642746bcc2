"""Several modems as one sender: the next registered, healthy modem in turn takes a message.

``ModemPool([m1, m2]).send(number, text)`` → ``(modem name, Sent)``.  A modem that fails a send
is skipped for ``cool_down_s`` (doubling while it keeps failing) and the message goes to the next;
:class:`NoModem` when none could send it.  Delivery reports come from each modem's
``on_report``; a reference is only unique per modem, so reports are matched on (modem, reference).
"""
from __future__ import annotations

import threading
import time

from drivers.gsm_modem.errors import GsmError, NoModem
from drivers.port import PortError


class ModemPool:
    def __init__(self, modems, cool_down_s: float = 30.0):
        self.modems = list(modems)
        self.cool_down_s = cool_down_s
        self._next = 0
        self._lock = threading.Lock()
        self._bad_until: dict[str, float] = {}
        self._fails: dict[str, int] = {}

    def _order(self) -> list:
        with self._lock:
            n = len(self.modems)
            start = self._next
            self._next = (self._next + 1) % max(n, 1)
        now = time.monotonic()
        ring = [self.modems[(start + i) % n] for i in range(n)]
        return [m for m in ring if self._bad_until.get(m.name, 0) <= now] or ring

    def send(self, number: str, text: str):
        errors = []
        for m in self._order():
            if m.registration is not None and m.registration not in (1, 5):
                errors.append(f"{m.name}: not registered")
                continue
            try:
                sent = m.send(number, text)
            except (GsmError, PortError) as e:
                fails = self._fails.get(m.name, 0) + 1
                self._fails[m.name] = fails
                self._bad_until[m.name] = time.monotonic() + self.cool_down_s * 2 ** min(fails - 1, 6)
                errors.append(str(e))
                continue
            self._fails.pop(m.name, None)
            self._bad_until.pop(m.name, None)
            return m.name, sent
        raise NoModem("no modem could send: " + ("; ".join(errors) or "the pool is empty"))

    def status(self) -> list[dict]:
        now = time.monotonic()
        return [{**m.status(), "cooling_down": self._bad_until.get(m.name, 0) > now} for m in self.modems]

    def close(self) -> None:
        for m in self.modems:
            m.close()
