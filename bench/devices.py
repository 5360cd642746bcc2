"""Device decoding cost: frames decoded per second per protocol, and CPU per device at a real rate.

For every scale protocol (``drivers.scale.SCALE_PROTOCOLS``) and every scanner protocol
(``drivers.scanner.SCANNER_PROTOCOLS``, when that package is there) it builds a stream of frames with
the simulators' encoders and feeds it to a fresh pure decoder one frame per call, the way a port
read delivers them at 10 frames/s.  The baseline, measured in the same run over the same frames, is
the least any framer must do: append to a buffer and ``bytes.find`` the next frame start.  Then a
live run: real drivers on pseudo-terminals fed by simulator processes at 10 frames/s, with this
process's CPU time over the interval (port threads, decoding, stability logic, all of it).

    python bench/devices.py [--frames 3000] [--live-seconds 3] [--json]

Target: well under 1% of one core per device (a Raspberry Pi runs a dozen).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from drivers.scale import SCALE_PROTOCOLS, make_decoder, open_scale  # noqa: E402
from sim import scale_devices as sim  # noqa: E402

RATE_HZ = 10


def scale_frames(protocol: str, n: int) -> list[bytes]:
    weights = [(i * 37) % 50_000 for i in range(n)]
    if protocol == "toledo-continuous":
        return [sim.toledo_continuous_frame(w, 3) for w in weights]
    if protocol == "toledo-8217":
        return [sim.toledo_8217_weight(w, 3) for w in weights]
    if protocol == "mt-sics":
        return [sim.sics_weight(w, 1, "g") for w in weights]
    if protocol == "xk3190":
        return [sim.xk3190_frame(w, 3) for w in weights]
    if protocol == "xk3190-reversed":
        return [sim.xk3190_equals(w, 3, reversed_order=True) for w in weights]
    if protocol == "xk3190-plain":
        return [sim.xk3190_equals(w, 3, reversed_order=False) for w in weights]
    if protocol == "xk3190-a12":
        return [sim.xk3190_a12(w, 3) for w in weights]
    if protocol == "xk3190-cmd":
        return [sim.xk3190_reply("A", "B", w, 3) for w in weights]
    if protocol == "hid-pos-scale":
        return [sim.hid_report(w % 65536, 0, "g") for w in weights]
    if protocol == "modbus":
        s = sim.SimScale("modbus", start=False)
        d = make_decoder("modbus")
        try:
            out = []
            for w in weights[:64]:
                s.set_weight(w, settle=False)
                regs = s.modbus_registers()
                out.append(d.response([regs.get(d.map.start + i, 0) for i in range(d.map.count)]))
        finally:
            s.close()
        return (out * (n // len(out) + 1))[:n]
    raise ValueError(protocol)


def scanner_cases(n: int):
    """(name, decoder factory, frames) for each scanner protocol, or a note why there are none."""
    try:
        from drivers.scanner import SCANNER_PROTOCOLS, decoder_for
        from sim.scanner_frames import frames_for
    except ImportError as e:
        return [], [f"scanners not measured: {e}"]
    cases, notes = [], []
    texts = [f"7{(i * 7919) % 10**13:013d}" for i in range(n)]
    for name in SCANNER_PROTOCOLS:
        try:
            frames = [frames_for(name, t) for t in texts]
            decoder_for(name).feed(frames[0])
        except Exception as e:  # a protocol whose frames need more context than one read
            notes.append(f"scanner {name}: not measured ({type(e).__name__}: {e})")
            continue
        cases.append((f"scanner:{name}", lambda name=name: decoder_for(name), frames))
    return cases, notes


def time_decoder(make, frames: list[bytes], repeat: int = 3) -> tuple[float, int]:
    best, items = float("inf"), 0
    for _ in range(repeat):
        d = make()
        feed = d.feed
        t0 = time.perf_counter()
        count = 0
        for f in frames:
            count += len(feed(f))
        best = min(best, time.perf_counter() - t0)
        items = count
    return best, items


def time_baseline(frames: list[bytes], repeat: int = 3) -> float:
    """Append each chunk and split on the frame's first byte with bytes.find: the floor of framing."""
    start = frames[0][:1]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        buf, n = b"", 0
        for f in frames:
            buf += f
            i = buf.find(start, 1)
            while i > 0:
                buf = buf[i:]
                n += 1
                i = buf.find(start, 1)
        best = min(best, time.perf_counter() - t0)
    return best


def live_cpu(protocols: list[str], seconds: float) -> dict:
    """Real drivers on ptys, simulators in child processes at 10 frames/s; our CPU per device."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    root = env["PYTHONPATH"]
    procs, scales = [], []
    try:
        for p in protocols:
            proc = subprocess.Popen([sys.executable, os.path.join(root, "cli.py"), "sim", "scale", "-p", p,
                                     "--rate", str(RATE_HZ), "--weight", "1234"],
                                    stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, env=env)
            procs.append(proc)
            path = proc.stdout.readline().strip()
            scales.append(open_scale(path, p, poll_interval_s=1 / RATE_HZ))
        for sc in scales:
            sc.stable_weight(5)
        r0 = [sc.readings for sc in scales]
        c0, t0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        cpu, wall = time.process_time() - c0, time.monotonic() - t0
        readings = sum(sc.readings for sc in scales) - sum(r0)
    finally:
        for sc in scales:
            sc.close()
        for proc in procs:
            proc.terminate()
            proc.wait(5)
    return {"devices": len(protocols), "seconds": round(wall, 2), "readings": readings,
            "cpu_percent_per_device": round(100 * cpu / wall / len(protocols), 3),
            "cpu_us_per_reading": round(1e6 * cpu / max(readings, 1), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--live-seconds", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    cases = [(f"scale:{p}", (lambda p=p: make_decoder(p, **({"checksum": True} if p == "toledo-continuous" else {}))),
              scale_frames(p, args.frames)) for p in SCALE_PROTOCOLS]
    more, notes = scanner_cases(args.frames)
    rows = []
    for name, make, frames in cases + more:
        t, items = time_decoder(make, frames)
        base = time_baseline(frames)
        per = t / max(len(frames), 1)
        rows.append({"protocol": name, "frames": len(frames), "items": items,
                     "frames_per_s": round(len(frames) / t), "us_per_frame": round(per * 1e6, 2),
                     "baseline_us_per_frame": round(base / len(frames) * 1e6, 2),
                     "ratio_to_baseline": round(t / base, 1) if base else None,
                     "core_percent_at_10hz": round(per * RATE_HZ * 100, 4)})
    live = live_cpu(["toledo-continuous", "mt-sics", "xk3190", "modbus"], args.live_seconds) \
        if args.live_seconds > 0 else None

    if args.json:
        print(json.dumps({"decode": rows, "live": live, "notes": notes}, indent=1))
        return 0
    print(f"{'protocol':28} {'frames/s':>10} {'us/frame':>9} {'baseline':>9} {'ratio':>6} {'%core@10Hz':>11}")
    for r in rows:
        print(f"{r['protocol']:28} {r['frames_per_s']:>10} {r['us_per_frame']:>9} {r['baseline_us_per_frame']:>9} "
              f"{r['ratio_to_baseline']:>6} {r['core_percent_at_10hz']:>11}")
        if r["items"] != r["frames"]:
            print(f"  note: {r['items']} items from {r['frames']} frames")
    for n in notes:
        print(f"note: {n}")
    if live:
        print(f"live: {live['devices']} scales on ptys at {RATE_HZ} frames/s for {live['seconds']} s: "
              f"{live['cpu_percent_per_device']}% of a core per device, {live['cpu_us_per_reading']} us CPU "
              f"per reading ({live['readings']} readings; target < 1%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
