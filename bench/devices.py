"""Device decoding cost: frames decoded per second per protocol, and CPU per device at a real rate.

For every scale protocol (``drivers.scale.SCALE_PROTOCOLS``) and every scanner protocol
(``drivers.scanner.SCANNER_PROTOCOLS``, when that package is there) it builds a stream of frames with
the simulators' encoders and feeds it to a fresh pure decoder one frame per call, the way a port
read delivers them at 10 frames/s.  The baseline, measured in the same run over the same frames, is
the least any framer must do: append to a buffer and ``bytes.find`` the next frame start.  Then a
live run: real drivers on pseudo-terminals fed by simulator processes at 10 frames/s, with this
process's CPU time over the interval (port threads, decoding, stability logic, all of it).

    python bench/devices.py [--frames 3000] [--live-seconds 3] [--rounds 5] [--quick] [--json]

Decoder and baseline are measured in the same rounds, next to each other, the order reversed
every other round (bench/harness.py); each round keeps the best of 3 passes over the frames, and
the ratio is taken per round.  Target: well under 1% of one core per device (a Raspberry Pi runs a
dozen).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the product's modules this bench drives (scanners are imported in scanner_cases)
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
    ap = harness.parser(__doc__)
    ap.add_argument("--frames", type=int, default=None, help="frames per protocol (default 3000; 1000 with --quick)")
    ap.add_argument("--live-seconds", type=float, default=None,
                    help="seconds of the live run per round, 0 to skip it (default 3; 1 with --quick)")
    args = harness.parse(ap, argv)
    n_frames = args.frames or (1000 if args.quick else 3000)
    live_s = args.live_seconds if args.live_seconds is not None else (1.0 if args.quick else 3.0)

    cases = [(f"scale:{p}", (lambda p=p: make_decoder(p, **({"checksum": True} if p == "toledo-continuous" else {}))),
              scale_frames(p, n_frames)) for p in SCALE_PROTOCOLS]
    more, notes = scanner_cases(n_frames)
    b = harness.Bench("devices", args, params={"frames": n_frames, "live_seconds": live_s}, warmup=1)
    names = []
    for name, make, frames in cases + more:
        names.append(name)

        def decode(r, make=make, frames=frames):
            t, items = time_decoder(make, frames)
            return {"us_per_frame": t / len(frames) * 1e6, "frames_per_s": len(frames) / t, "items": items,
                    "frames": len(frames), "core_percent_at_10hz": t / len(frames) * RATE_HZ * 100}

        def split(r, frames=frames):
            return {"us_per_frame": time_baseline(frames) / len(frames) * 1e6}
        b.part(name, decode)
        b.part(f"{name}~split", split)
        b.compare(name, name, f"{name}.us_per_frame", f"{name}~split.us_per_frame", unit="us", better="lower")
        _, items = time_decoder(make, frames, repeat=1)
        if items != len(frames):
            notes.append(f"{name}: {items} items from {len(frames)} frames")

    def overall(figures):
        dec = [figures[f"{n}.us_per_frame"] for n in names]
        base = [figures[f"{n}~split.us_per_frame"] for n in names]
        return {"us_per_frame": sum(dec) / len(dec), "split_us_per_frame": sum(base) / len(base),
                "ratio_geomean": math.exp(sum(math.log(d / s) for d, s in zip(dec, base)) / len(dec))}
    b.derive("all", overall)
    b.figure("decode_mean", f"decoding, mean of {len(names)} protocols", "all.us_per_frame", unit="us",
             headline=True, better="lower")
    b.figure("decode_ratio", "  x split baseline, geometric mean of the per-protocol ratios", "all.ratio_geomean",
             unit="x", headline=True, better="lower")
    live_protocols = ["toledo-continuous", "mt-sics", "xk3190", "modbus"]
    if live_s > 0:
        b.part("live", lambda r: live_cpu(live_protocols, live_s))
        b.figure("live", f"live: {len(live_protocols)} scales on ptys at {RATE_HZ}/s, per device",
                 "live.cpu_percent_per_device", unit="% core", goal=("<", 1), headline=True)
        b.figure("live_reading", "  CPU per reading", "live.cpu_us_per_reading", unit="us", better="lower")
    b.noise_from("all.split_us_per_frame")
    b.note("baseline (~split): append to a buffer and bytes.find the next frame start over the same frames")
    b.note(f"% of a core for decoding at {RATE_HZ} frames/s = us/frame / 1000")
    for n in notes:
        b.note(n)
    b.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
