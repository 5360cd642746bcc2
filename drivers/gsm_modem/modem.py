"""A GSM modem on a serial port: AT commands in PDU mode, through :class:`drivers.port.PortOwner`.

::

    from drivers.gsm_modem import open_modem

    with open_modem("/dev/ttyUSB0", on_report=print) as m:
        m.signal()              # {"dbm": -73, "ber": 0, "registration": 1, "registered": True}
        sent = m.send("+8613800138000", "您的快件已到达")   # Sent(references=[17], parts=1)
        # later, on the port thread: on_report(StatusReport(reference=17, status="delivered", …))

Set-up on (re)connect: ``ATE0`` (no echo), ``AT+CMEE=1`` (numeric errors), ``AT+CMGF=0`` (PDU
mode), ``AT+CNMI=2,2,0,1,0`` (incoming messages as ``+CMT``, delivery reports as ``+CDS``),
``AT+CREG=1`` (registration changes as ``+CREG:``).  ``on_message(Deliver)`` gets each incoming
message part (a reply such as 退订), ``on_report(StatusReport)`` each delivery report.  Sending a part: ``AT+CMGS=<TPDU length>``, wait for ``> ``, the PDU hex and
Ctrl-Z, then ``+CMGS: <mr>`` and ``OK``.  Commands are serialised: one at a time per modem.
Raises :class:`ModemError` for an error answer or a timeout; :class:`drivers.port.PortNotConnected`
while the modem is away.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from drivers.gsm_modem.at import ATDecoder, Item, parse_cmgs, parse_creg, parse_csq
from drivers.gsm_modem.errors import ModemError, PduError
from drivers.gsm_modem.pdu import Deliver, StatusReport, decode_deliver, decode_status_report, encode_submit
from drivers.port import PortOwner

SETUP = ("ATE0", "AT+CMEE=1", "AT+CMGF=0", "AT+CNMI=2,2,0,1,0", "AT+CREG=1")
CTRL_Z = b"\x1a"
ESC = b"\x1b"


@dataclass(frozen=True)
class Sent:
    """A message handed to the network: the TP-MR of each part, in order."""
    references: list[int]
    parts: int


class Modem:
    """One modem; see the module docstring.  ``name`` labels it in a pool (default: the port)."""

    def __init__(self, port: str, *, on_report: Callable[[StatusReport], None] | None = None,
                 on_unsolicited: Callable[[Item], None] | None = None,
                 on_message: Callable[[Deliver], None] | None = None, baudrate: int = 115200,
                 timeout_s: float = 10.0, send_timeout_s: float = 60.0, name: str | None = None):
        self.name = name or port
        self.on_report = on_report
        self.on_unsolicited = on_unsolicited
        self.on_message = on_message
        self.timeout_s = timeout_s
        self.send_timeout_s = send_timeout_s
        self.registration: int | None = None
        self.reports_bad = 0
        self._answers: queue.Queue[Item] = queue.Queue()
        self._lock = threading.Lock()
        self._ready = False
        self._reference = 0
        self.owner = PortOwner(port, ATDecoder(), self._item, settings={"baudrate": baudrate},
                               on_state=self._state, name=f"gsm-{self.name}")

    # -- port thread ------------------------------------------------------------------------
    def _state(self, state: str) -> None:
        if state != "connected":
            self._ready = False

    def _item(self, item: Item) -> None:
        if item.kind == "cds":
            try:
                report = decode_status_report(item.text)
            except PduError:
                self.reports_bad += 1
                return
            if self.on_report:
                self.on_report(report)
        elif item.kind == "cmt":
            try:
                message = decode_deliver(item.text)
            except PduError:
                self.reports_bad += 1
                return
            if self.on_message:
                self.on_message(message)
        elif item.kind == "unsolicited":
            if item.text.startswith("+CREG:"):
                try:
                    self.registration = parse_creg(item.text)
                except ValueError:
                    pass
            if self.on_unsolicited:
                self.on_unsolicited(item)
        else:
            self._answers.put(item)

    # -- commands ---------------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            try:
                self._answers.get_nowait()
            except queue.Empty:
                return

    def _wait(self, deadline: float, what: str) -> Item:
        left = deadline - time.monotonic()
        try:
            return self._answers.get(timeout=max(left, 0.001))
        except queue.Empty:
            raise ModemError(f"{self.name}: no answer to {what} within the timeout") from None

    def _run(self, command: str, timeout_s: float | None = None) -> list[str]:
        self._drain()
        self.owner.write(command.encode("ascii") + b"\r")
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        lines = []
        while True:
            item = self._wait(deadline, command)
            if item.kind == "final":
                if item.text == "OK":
                    return lines
                raise ModemError(f"{self.name}: {command} → {item.text}", item.code)
            if item.kind == "line" and item.text != command:      # skip an echo
                lines.append(item.text)

    def _setup(self) -> None:
        if self._ready:
            return
        for cmd in SETUP:
            self._run(cmd)
        self._ready = True

    def command(self, command: str, timeout_s: float | None = None) -> list[str]:
        """Run one AT command (after the set-up); its information lines, or :class:`ModemError`."""
        with self._lock:
            self._setup()
            return self._run(command, timeout_s)

    def wait_connected(self, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.owner.status()["state"] == "connected":
                return True
            time.sleep(0.02)
        return False

    def signal(self) -> dict:
        """Signal and registration: ``dbm`` (None when unknown), ``ber``, ``registration``
        (0-5, ``drivers.gsm_modem.at.REGISTRATION``), ``registered`` (home or roaming)."""
        dbm, ber = parse_csq(next(l for l in self.command("AT+CSQ") if l.startswith("+CSQ:")))
        self.registration = parse_creg(next(l for l in self.command("AT+CREG?") if l.startswith("+CREG:")))
        return {"dbm": dbm, "ber": ber, "registration": self.registration,
                "registered": self.registration in (1, 5)}

    def send(self, number: str, text: str, status_report: bool = True) -> Sent:
        """Send ``text`` to ``number`` (concatenated parts when long); the parts' references.
        A part the modem refuses raises :class:`ModemError` (earlier parts are out already)."""
        with self._lock:
            self._reference = (self._reference + 1) % 256
            pdus = encode_submit(number, text, reference=self._reference, status_report=status_report)
            self._setup()
            refs = []
            for p in pdus:
                refs.append(self._send_part(p.tpdu_length, p.hex))
            return Sent(refs, len(pdus))

    def _send_part(self, length: int, pdu_hex: str) -> int:
        self._drain()
        cmd = f"AT+CMGS={length}"
        self.owner.write(cmd.encode("ascii") + b"\r")
        deadline = time.monotonic() + self.timeout_s
        while True:
            item = self._wait(deadline, cmd)
            if item.kind == "prompt":
                break
            if item.kind == "final":
                raise ModemError(f"{self.name}: {cmd} → {item.text}", item.code)
        self.owner.write(pdu_hex.encode("ascii") + CTRL_Z)
        deadline = time.monotonic() + self.send_timeout_s
        mr = None
        while True:
            item = self._wait(deadline, "the PDU")
            if item.kind == "line" and item.text.startswith("+CMGS:"):
                mr = parse_cmgs(item.text)
            elif item.kind == "final":
                if item.text != "OK":
                    raise ModemError(f"{self.name}: sending → {item.text}", item.code)
                if mr is None:
                    raise ModemError(f"{self.name}: OK without +CMGS")
                return mr

    def status(self) -> dict:
        return {"name": self.name, **self.owner.status(), "registration": self.registration}

    def close(self) -> None:
        self.owner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_modem(port: str, **options) -> Modem:
    """Open the modem at ``port`` (a device path, a pty, ``socket://…``, ``spy://…``)."""
    return Modem(port, **options)
