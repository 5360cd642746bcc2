"""GSM modem driver: AT commands over serial in PDU mode (GSM 7-bit and UCS2, concatenated
messages, delivery reports), signal and registration, a pool of modems.  docs/sms.md.

::

    from drivers.gsm_modem import ModemPool, open_modem
    pool = ModemPool([open_modem("/dev/ttyUSB0"), open_modem("/dev/ttyUSB1")])
    name, sent = pool.send("13800138000", "您的快件已到达网点")

Pure parts: ``pdu`` (encode and decode PDUs), ``at`` (the response decoder).
"""
from __future__ import annotations

from drivers.gsm_modem.errors import GsmError, ModemError, NoModem, PduError
from drivers.gsm_modem.modem import Modem, Sent, open_modem
from drivers.gsm_modem.pdu import StatusReport, decode_deliver, decode_status_report, encode_submit
from drivers.gsm_modem.pool import ModemPool

__all__ = ["GsmError", "ModemError", "NoModem", "PduError", "Modem", "Sent", "open_modem", "StatusReport",
           "decode_deliver", "decode_status_report", "encode_submit", "ModemPool"]
