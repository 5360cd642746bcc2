"""A simulated GSM modem on a pseudo-terminal, speaking the AT dialogue of 3GPP TS 27.005 / 27.007.

It answers what :class:`drivers.gsm_modem.Modem` sends and what a technician types in a terminal:
``AT``, ``ATE0``/``ATE1``, ``AT+CMEE=1``, ``AT+CMGF=0|1`` and ``?``, ``AT+CNMI=…``, ``AT+CREG=n``
and ``?``, ``AT+CSQ``, ``AT+CPIN?``, ``AT+CGMI``/``AT+CGMM``, and ``AT+CMGS=<length>`` in PDU
mode: ``> `` prompt, PDU hex, Ctrl-Z (ESC cancels), ``+CMGS: <mr>`` and ``OK``; a length that
does not match the PDU gets ``+CMS ERROR: 304``.  When the PDU asks for a status report and
``AT+CNMI`` has ``ds=1``, a ``+CDS`` report follows after ``report_delay_s``: delivered, or the
status ``report_status[number]`` (a TP-ST value: 0x41 is a permanent failure).

The PDU reader and the status-report writer here are written from the 3GPP text independently
of the driver's ``drivers.gsm_modem.pdu``; tests check the driver against them and against a
third-party decoder.  ``sent`` holds every accepted PDU (hex, without the SMSC field).
:meth:`SimModem.receive` delivers a message from a phone: ``+CMT`` with an SMS-DELIVER in UCS2
when ``AT+CNMI`` has ``mt=2``.
"""
from __future__ import annotations

import threading
import time

from sim.scale_devices import PtyLink


def _bcd(digits: str) -> bytes:
    d = digits + ("F" if len(digits) % 2 else "")
    return bytes(int(d[i + 1] + d[i], 16) for i in range(0, len(d), 2))


def read_submit(tpdu: bytes) -> dict:
    """The fields of an SMS-SUBMIT TPDU this modem needs (TS 23.040 9.2.2.2)."""
    first = tpdu[0]
    ndigits, toa = tpdu[2], tpdu[3]
    nb = (ndigits + 1) // 2
    digits = "".join(f"{b & 15:X}{b >> 4:X}" for b in tpdu[4:4 + nb])[:ndigits]
    return {"mti": first & 3, "srr": bool(first & 0x20), "udhi": bool(first & 0x40),
            "number": ("+" if toa == 0x91 else "") + digits, "toa": toa, "da": tpdu[2:4 + nb]}


def status_report_pdu(mr: int, da: bytes, status: int) -> str:
    """An SMS-STATUS-REPORT with no SMSC field ("00"), times 2024-06-01 08:00:00 +08."""
    ts = bytes([0x42, 0x60, 0x10, 0x80, 0x00, 0x00, 0x23])
    tpdu = bytes([0x06, mr]) + da + ts + ts + bytes([status])
    return "00" + tpdu.hex().upper()


def deliver_pdu(sender: str, text: str) -> str:
    """An SMS-DELIVER in UCS2 (one part) with no SMSC field, time 2024-06-01 08:00:00 +08."""
    digits = sender.lstrip("+")
    ud = text.encode("utf-16-be")
    ts = bytes([0x42, 0x60, 0x10, 0x80, 0x00, 0x00, 0x23])
    tpdu = (bytes([0x04, len(digits), 0x91 if sender.startswith("+") else 0x81]) + _bcd(digits)
            + bytes([0x00, 0x08]) + ts + bytes([len(ud)]) + ud)
    return "00" + tpdu.hex().upper()


class SimModem:
    def __init__(self, *, link: str | None = None, rssi: int = 20, registration: int = 1,
                 report_delay_s: float = 0.05, first_mr: int = 0):
        self.pty = PtyLink(link)
        self.rssi = rssi
        self.registration = registration
        self.report_delay_s = report_delay_s
        self.report_status: dict[str, int] = {}
        self.fail_next: list[int] = []       # +CMS ERROR codes for the next sends
        self.sent: list[str] = []
        self.commands: list[str] = []
        self.echo = True
        self.pdu_mode = False
        self.cnmi_ds = 0
        self.cnmi_mt = 0
        self.creg_n = 0
        self.cmee = 0
        self._mr = first_mr
        self._pending_len: int | None = None
        self._buf = bytearray()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sim-gsm", daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        return self.pty.path

    def _out(self, text: str) -> None:
        self.pty.write(text.encode("ascii"))

    def _result(self, *lines: str, final: str = "OK") -> None:
        self._out("".join(f"\r\n{l}\r\n" for l in lines) + f"\r\n{final}\r\n")

    def set_registration(self, stat: int) -> None:
        """Change the registration state; an unsolicited ``+CREG: <stat>`` when ``AT+CREG=1``."""
        self.registration = stat
        if self.creg_n:
            self._out(f"\r\n+CREG: {stat}\r\n")

    def _run(self) -> None:
        while not self._stop.is_set():
            data = self.pty.read(0.05)
            if not data:
                continue
            with self._lock:
                self._feed(data)

    def _feed(self, data: bytes) -> None:
        for b in data:
            if self._pending_len is not None:
                if b == 0x1A:
                    self._submit(bytes(self._buf))
                    self._buf.clear()
                    self._pending_len = None
                elif b == 0x1B:
                    self._buf.clear()
                    self._pending_len = None
                    self._result()
                else:
                    self._buf.append(b)
                continue
            if b in (0x0D, 0x0A):
                line = self._buf.decode("ascii", "replace").strip()
                self._buf.clear()
                if line:
                    if self.echo:
                        self._out(line + "\r")
                    self._command(line)
            else:
                self._buf.append(b)

    def _error(self, code: int) -> None:
        self._out(f"\r\n+CMS ERROR: {code}\r\n" if self.cmee else "\r\nERROR\r\n")

    def _command(self, line: str) -> None:
        self.commands.append(line)
        up = line.upper()
        if not up.startswith("AT"):
            self._out("\r\nERROR\r\n")
            return
        cmd = up[2:]
        if cmd == "":
            self._result()
        elif cmd in ("E0", "E1"):
            self.echo = cmd == "E1"
            self._result()
        elif cmd.startswith("+CMEE="):
            self.cmee = int(cmd[6:] or 0)
            self._result()
        elif cmd == "+CMGF?":
            self._result(f"+CMGF: {int(self.pdu_mode is False)}")
        elif cmd.startswith("+CMGF="):
            self.pdu_mode = cmd[6:] == "0"
            self._result()
        elif cmd.startswith("+CNMI="):
            vals = (cmd[6:].split(",") + ["0"] * 5)[:5]
            self.cnmi_ds = int(vals[3] or 0)
            self.cnmi_mt = int(vals[1] or 0)
            self._result()
        elif cmd.startswith("+CREG="):
            self.creg_n = int(cmd[6:] or 0)
            self._result()
        elif cmd == "+CREG?":
            self._result(f"+CREG: {self.creg_n},{self.registration}")
        elif cmd == "+CSQ":
            self._result(f"+CSQ: {self.rssi},99")
        elif cmd == "+CPIN?":
            self._result("+CPIN: READY")
        elif cmd == "+CGMI":
            self._result("SIMCOM_Ltd")
        elif cmd == "+CGMM":
            self._result("SIMCOM_SIM800")
        elif cmd.startswith("+CMGS="):
            if not self.pdu_mode:
                self._error(302)
                return
            try:
                self._pending_len = int(cmd[6:])
            except ValueError:
                self._error(304)
                return
            self._out("\r\n> ")
        else:
            self._out("\r\nERROR\r\n")

    def _submit(self, raw: bytes) -> None:
        try:
            data = bytes.fromhex(raw.decode("ascii").strip())
            tpdu = data[1 + data[0]:]
        except (ValueError, IndexError):
            self._error(304)
            return
        if len(tpdu) != self._pending_len or not tpdu:
            self._error(304)
            return
        try:
            fields = read_submit(tpdu)
        except IndexError:
            self._error(304)
            return
        if fields["mti"] != 1:
            self._error(304)
            return
        if self.registration not in (1, 5):
            self._error(331)            # no network service
            return
        if self.fail_next:
            self._error(self.fail_next.pop(0))
            return
        self._mr = (self._mr + 1) % 256
        mr = self._mr
        self.sent.append(tpdu.hex().upper())
        self._result(f"+CMGS: {mr}")
        if fields["srr"] and self.cnmi_ds == 1:
            status = self.report_status.get(fields["number"], 0x00)
            pdu = status_report_pdu(mr, fields["da"], status)
            timer = threading.Timer(self.report_delay_s, self._report, (pdu,))
            timer.daemon = True
            timer.start()

    def receive(self, sender: str, text: str) -> bool:
        """A message from ``sender`` reaches the modem; shown as ``+CMT`` when ``mt=2`` (else kept)."""
        if self.cnmi_mt != 2:
            return False
        pdu = deliver_pdu(sender, text)
        with self._lock:
            self._out(f"\r\n+CMT: ,{len(pdu) // 2 - 1}\r\n{pdu}\r\n")
        return True

    def _report(self, pdu: str) -> None:
        with self._lock:
            self._out(f"\r\n+CDS: {len(pdu) // 2 - 1}\r\n{pdu}\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.pty.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
