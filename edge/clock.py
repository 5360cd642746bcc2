"""Station clock safety.

Every scan keeps the wall clock *and* a monotonic reading with the boot it belongs to.  When the
hub answers a clock probe, the station learns how its monotonic clock maps to hub (UTC) time for
the current boot; that mapping is fixed the first time it is measured, so a scan's corrected time
never changes between resends.  Scans made before the clock was trusted (a Raspberry Pi has no RTC
and boots in 1970) are corrected from that mapping: never sent as 1970.

Clock states sent with each scan: ``trusted`` (the wall clock was sane and agreed with the hub
within ``TRUST_TOLERANCE_MS``), ``corrected`` (time derived from the monotonic clock and the
measured offset), ``unknown`` (a previous boot that never reached the hub: best guess, flagged).
"""
from __future__ import annotations

import json
import time
import uuid

from contract.clock import CLOCK_SANE_MS   # a wall clock before this was never set

TRUST_TOLERANCE_MS = 2_000


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return _PROCESS_BOOT


_PROCESS_BOOT = uuid.uuid4().hex


def wall_ms() -> int:
    return int(time.time() * 1000)


def mono_ms() -> int:
    return int(time.monotonic() * 1000)


class StationClock:
    """Per-boot monotonic -> hub-time offsets, persisted in the outbox's meta table."""

    def __init__(self, meta_get, meta_set, wall=wall_ms, mono=mono_ms, boot=None):
        self._get, self._set = meta_get, meta_set
        self.wall, self.mono = wall, mono
        self.boot = boot or boot_id()
        self.offsets: dict[str, int] = json.loads(self._get("mono_offsets", "{}"))
        self.wall_offset_ms: int | None = None      # hub - wall, last measured
        self.rtt_ms: int | None = None

    @property
    def synced(self) -> bool:
        return self.boot in self.offsets

    def observe(self, t0_wall: int, m0: int, hub_ms: int, m1: int | None = None) -> None:
        """Record a probe answer: sent at (wall t0, mono m0), answered with hub_ms, received at m1."""
        m1 = self.mono() if m1 is None else m1
        rtt = max(0, m1 - m0)
        self.rtt_ms = rtt
        self.wall_offset_ms = hub_ms - (t0_wall + rtt // 2)
        if self.boot not in self.offsets:
            self.offsets[self.boot] = hub_ms - (m0 + rtt // 2)
            self._set("mono_offsets", json.dumps(self.offsets))

    def wall_trusted(self, wall: int) -> bool:
        if wall < CLOCK_SANE_MS:
            return False
        if self.wall_offset_ms is not None:
            return abs(self.wall_offset_ms) <= TRUST_TOLERANCE_MS
        return True      # a sane clock not yet checked: NTP-synchronised stations are the norm

    def event_time(self, created_ms: int, mono: int, boot: str) -> tuple[int, str]:
        """(corrected event time in UTC ms, clock state) for a scan captured at (wall, mono, boot)."""
        if boot in self.offsets:
            corrected = mono + self.offsets[boot]
            if created_ms >= CLOCK_SANE_MS and abs(corrected - created_ms) <= TRUST_TOLERANCE_MS:
                return created_ms, "trusted"
            return corrected, "corrected"
        if created_ms >= CLOCK_SANE_MS:
            return created_ms, "trusted" if boot == self.boot and self.wall_trusted(created_ms) else "unknown"
        # an earlier boot with a clock never set and never synced: the best we know is "before now"
        return self.wall() + (self.wall_offset_ms or 0), "unknown"

    def can_stamp(self, boot: str) -> bool:
        """True when a scan's event time is final and it may be sent: its boot has a measured
        offset, or it is from an earlier boot that will never get one.  Scans of the current boot
        wait for the first probe answer (the uplink probes as soon as it connects)."""
        return boot in self.offsets or boot != self.boot
