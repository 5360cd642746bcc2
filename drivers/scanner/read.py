"""The one thing every scanner driver yields: a :class:`Read`."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Read:
    """One barcode read (or one stored record of a wireless gun's batch upload).

    ``text``       the barcode's data, without prefix, suffix, AIM identifier or terminator.
    ``symbology``  our symbology name (``code128``, ``ean13``, ``qr`` …) when the device says which,
                   else ``None``.
    ``aim``        the AIM symbology identifier (``]C0``) when the device sent one, else ``None``.
    ``device``     the device id given to the driver (``gun-1``).
    ``time_ms``    UTC epoch milliseconds: when the driver decoded a live read, or the gun's own
                   scan time (``record["scanned_ms"]``) for a batch record.
    ``record``     for batch uploads only: the stored record (see ``drivers.scanner.batch``).
    """

    text: str
    symbology: str | None
    aim: str | None
    device: str
    time_ms: int
    record: dict | None = None

    def to_dict(self) -> dict:
        out = {"text": self.text, "symbology": self.symbology, "aim": self.aim,
               "device": self.device, "time_ms": self.time_ms}
        if self.record is not None:
            out["record"] = dict(self.record)
        return out


def now_ms() -> int:
    """The current UTC time in epoch milliseconds (the default clock of every decoder)."""
    return time.time_ns() // 1_000_000
