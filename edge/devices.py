"""Wiring a station's devices (from its station file) to the capture API.

Scanners feed ``Capture.scan``; a wireless gun's batch records carry their own kind, operator and
scan time.  A scale becomes the capture's weight source: an arrival scan takes the scale's next
*fresh stable* reading, and is refused when none comes in time ("let the parcel settle"), or at
once when the scale is not connected ("scale not connected").

``device_states(agent)`` is what the station console and ``scanhub edge status`` show of each
device: type, id, port, whether it is connected, and a scale's last weight.
"""
from __future__ import annotations

import logging

from edge.capture import NoWeight
from edge.errors import EdgeError

log = logging.getLogger("scanhub.edge.devices")

STABLE_WAIT_S = 3.0


class DeviceError(EdgeError):
    pass


def record_overrides(rec: dict) -> dict:
    """Capture overrides for a wireless gun's stored record."""
    out = {"kind": rec.get("kind"), "operator": rec.get("operator"), "courier": rec.get("courier"),
           "dest": rec.get("dest"), "shift": rec.get("shift"), "signer": rec.get("signer"),
           "site_ref": rec.get("next_site") or rec.get("prev_site"), "sign_type": rec.get("sign_type"),
           "reason": rec.get("reason"), "bag": rec.get("bag"), "seal": rec.get("seal")}
    return {k: v for k, v in out.items() if v}


def open_devices(agent, specs: list[dict], on_verdict=None) -> list:
    """Open every device in ``specs``; returns the device objects (each has ``status()``, ``close()``)."""
    opened = []
    for spec in specs:
        opts = {k: v for k, v in spec.items() if k not in ("type", "protocol", "port", "id")}
        try:
            if spec["type"] == "scale":
                from drivers.scale import open_scale
                dev = open_scale(spec["port"], protocol=spec["protocol"], **opts)

                def weight(dev=dev, port=str(spec.get("id") or spec["port"])):
                    if dev.owner.state != "connected":
                        raise NoWeight(f"scale not connected ({port}): plug the scale in, then scan again")
                    r = dev.stable_weight(STABLE_WAIT_S)
                    if r is None and dev.owner.state != "connected":
                        raise NoWeight(f"scale not connected ({port}): plug the scale in, then scan again")
                    return r.grams if r is not None and r.stable and not (r.overload or r.underload) else None
                agent.capture.weight_source = weight
            else:
                from drivers.scanner import open_scanner
                device_id = str(spec.get("id") or spec["port"])

                def on_reads(reads, device_id=device_id):
                    # a cradle upload's records are validated one by one and stored in one transaction
                    records = [r for r in reads if r.record]
                    if records:
                        items = [dict(record_overrides(r.record), text=r.text,
                                      device=f"{device_id}/{r.record.get('gun', '')}",
                                      weight_g=r.record.get("weight_g"), captured_ms=r.record.get("scanned_ms"))
                                 for r in records]
                        for r, v in zip(records, agent.capture.scan_batch(items)):
                            if on_verdict:
                                on_verdict(device_id, r.text, v)
                    for r in reads:
                        if not r.record:
                            v = agent.capture.scan(r.text, device=device_id)
                            if on_verdict:
                                on_verdict(device_id, r.text, v)
                dev = open_scanner(spec["port"], protocol=spec["protocol"], on_read=lambda r: on_reads([r]),
                                   on_reads=on_reads, device_id=device_id, **opts)
        except ImportError as e:
            raise DeviceError(f"driver for {spec['type']} protocol {spec['protocol']!r} unavailable: {e}") from e
        except Exception as e:      # driver errors (bad option, port owned elsewhere …) end as one line
            for dev in opened:
                dev.close()
            raise DeviceError(f"cannot open {spec['type']} {spec.get('port')}: {e}") from e
        dev.scanhub_spec = spec          # what device_states() names it by
        opened.append(dev)
    agent.devices.extend(opened)
    return opened


def device_state(dev) -> dict:
    """One device as the console shows it: ``type``, ``id``, ``port``, ``protocol``, ``state``
    (``connected`` / ``reconnecting`` / ``closed``), ``connected`` and, for a scale, ``weight_g``
    and ``stable`` of its latest reading (``None`` while it is away or has sent nothing); the
    port's counters ``frames``, ``bad_frames``, ``reconnects`` and ``last_error`` when it has them."""
    spec = getattr(dev, "scanhub_spec", {}) or {}
    try:
        st = dev.status()
    except Exception as e:                     # a driver that cannot say is shown as not connected
        st = {"state": f"unknown ({e})"}
    out = {"type": spec.get("type", "device"), "id": str(spec.get("id") or spec.get("port") or "?"),
           "port": spec.get("port"), "protocol": spec.get("protocol"), "state": st.get("state"),
           "connected": st.get("state") == "connected"}
    out.update({k: st[k] for k in ("frames", "bad_frames", "reconnects", "last_error") if k in st})
    if out["type"] == "scale":
        r = dev.latest() if hasattr(dev, "latest") else None
        out["weight_g"] = r.grams if r is not None else None
        out["stable"] = bool(r.stable) if r is not None else None
    return out


def device_states(agent) -> list[dict]:
    return [device_state(d) for d in agent.devices]
