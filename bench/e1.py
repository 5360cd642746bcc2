"""E1 benchmarks: framer CPU, MF detection CPU, call setup time against the protocol minimum.

    python bench/e1.py [--rounds 5] [--quick] [--json]

Every figure is printed with its baseline, measured in the same rounds (bench/harness.py: parts
interleaved, order reversed every other round, ratios per round), the ratio and the absolute value.

1. Framer: CPU seconds per second of E1 line (8000 frames) for transmit framing (CAS, CRC-4)
   plus receive deframing (alignment checks, CRC-4, CAS, alarms).  Goal: one span in real time
   with at most 5 % of a core.  Baseline: only touching the same bytes (timeslot slicing and
   reassembly, no framing logic).
2. MF detection on 30 channels: CPU seconds per second of audio (30 x 50 blocks of 20 ms),
   A-law decode included.  Baselines: A-law decode alone; the textbook per-sample Goertzel
   recursion for the same six frequencies.
3. Call setup on the simulated span pair (seizure/SETUP to accepted, simulated ms) for R2-CN and
   PRI against the protocol's own minimum (a constant):
   * R2-CN: compelled cycles x 4 signal transitions x 20 ms recognition (one 20 ms analysis
     block, the shortest that separates 120 Hz-spaced MF frequencies) + the CAS seizure and
     acknowledgement (one 2 ms multiframe each);
   * PRI: transmission of SETUP, CALL PROCEEDING and ALERTING (with LAPD and HDLC overhead)
     at 64 kbit/s.
"""
from __future__ import annotations

import os
import sys
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cpu(fn, *args):
    t = time.process_time()
    out = fn(*args)
    return time.process_time() - t, out


def framer_parts(seconds: int):
    """(framer part, baseline part): CPU per second of line, framing vs slicing the same bytes."""
    from drivers.e1_card.framer import Deframer, Framer
    n_mf = 500 * seconds
    payload = os.urandom(512)
    abcd = {ts: 0b1011 for ts in list(range(1, 16)) + list(range(17, 32))}
    f = Framer()
    reference = [f.multiframe(payload, abcd) for _ in range(n_mf)]     # what the baseline slices

    def framer(r):
        def tx():
            f = Framer()
            return [f.multiframe(payload, abcd) for _ in range(n_mf)]
        t_tx, mfs = cpu(tx)

        def rx():
            d = Deframer()
            for i in range(0, n_mf, 10):  # 20 ms chunks, as the span delivers them
                d.feed(b"".join(mfs[i:i + 10]))
                d.read_frames()
            return d
        t_rx, d = cpu(rx)
        assert not d.alarms() and d.crc4_errors == 0
        per_s = (t_tx + t_rx) / seconds
        return {"core_percent": per_s * 100, "tx_ms_per_s": t_tx / seconds * 1000,
                "rx_ms_per_s": t_rx / seconds * 1000, "cpu_ms_per_s": per_s * 1000}

    def slicing(r, passes: int = 10):
        def baseline():                 # a few passes: one is too short to time steadily
            out = []
            for _ in range(passes):
                out = []
                for i in range(0, n_mf, 10):
                    chunk = b"".join(reference[i:i + 10])
                    for ts in (0, 16):
                        out.append(chunk[ts::32])
                    out.append(bytes(chunk))
            return out
        baseline()                      # untimed warm-up: the first pass over fresh data is slower
        t_base, _ = cpu(baseline)
        return {"cpu_ms_per_s": t_base / passes / seconds * 1000}
    return framer, slicing


def mf_parts(seconds: int):
    """(detector, A-law decode alone, textbook Goertzel): CPU per second of audio on 30 channels."""
    from drivers.e1_card import alaw, mf
    from drivers.e1_card.tones import goertzel_power
    blocks = [alaw.encode(mf.mf_samples(1 + (i % 15), True, offset_hz=(i % 7) - 3)) for i in range(30)]
    n = 50 * seconds

    def ours(r):
        det = mf.MFDetector(True)

        def run():
            hits = 0
            for _ in range(n):
                for b in blocks:
                    hits += det.detect_alaw(b) is not None
            return hits
        t, hits = cpu(run)
        assert hits == 30 * n
        return {"core_percent": t / seconds * 100, "cpu_ms_per_s": t / seconds * 1000,
                "us_per_block": t / (30 * n) * 1e6}

    def decode_only(r):
        def run():
            for _ in range(n):
                for b in blocks:
                    alaw.decode_float(b)
        t, _ = cpu(run)
        return {"cpu_ms_per_s": t / seconds * 1000}

    def textbook(r):
        n_g = max(1, n // 10)

        def run():
            for _ in range(n_g):
                for b in blocks:
                    x = alaw.decode(b)
                    for f in mf.FORWARD:
                        goertzel_power(x, f)
        t, _ = cpu(run)
        return {"cpu_ms_per_s": t * n / n_g / seconds * 1000}
    return ours, decode_only, textbook


def r2_minimum_ms(dnis_len: int, ani_len: int) -> int:
    cycles = 1 + 1 + ani_len + 1 + (dnis_len - 1) + 1  # DNIS1, KA, ANI…, I-15, DNIS rest, KD
    return cycles * 4 * 20 + 2 * 2


def pri_minimum_ms() -> float:
    from drivers.e1_card import q931
    from drivers.e1_card.q931 import IE, MT, Message
    setup = Message(MT["SETUP"], 1, 0, [(IE["BEARER"], q931.bearer_capability()),
                                        (IE["CHANNEL_ID"], q931.channel_id(1)),
                                        (IE["CALLING"], q931.calling_number("13800138000")),
                                        (IE["CALLED"], q931.called_number("12345678")),
                                        (IE["SENDING_COMPLETE"], b"")]).encode()
    proc = Message(MT["CALL_PROCEEDING"], 1, 1, [(IE["CHANNEL_ID"], q931.channel_id(1))]).encode()
    alert = Message(MT["ALERTING"], 1, 1, [(IE["PROGRESS"], q931.progress())]).encode()
    overhead = 4 + 2 + 1  # LAPD address + control, FCS, one flag
    bits = sum((len(m) + overhead) * 8 * 1.02 for m in (setup, proc, alert))  # ~2 % bit stuffing
    return bits / 64.0


def setup_part(protocol: str, calls: int):
    def run(r):
        from sim.e1_carrier import run_calls
        wall = time.perf_counter()
        res = run_calls(protocol, calls, concurrent=1, hold_ms=100, dnis_len=8)
        wall = time.perf_counter() - wall
        s = res.summary()
        assert s["failed"] == 0, s
        return {"median_ms": s["setup_ms"]["median"], "min_ms": s["setup_ms"]["min"], "max_ms": s["setup_ms"]["max"],
                "cpu_ms_per_call": res.cpu_s / calls * 1000, "wall_s": wall}
    return run


def main() -> None:
    ap = harness.parser(__doc__)
    ap.add_argument("--line-seconds", type=int, default=None, help="seconds of E1 line framed per round (default 10; 5 with --quick)")
    ap.add_argument("--audio-seconds", type=int, default=None, help="seconds of MF audio per round (default 2; 1 with --quick)")
    ap.add_argument("--calls", type=int, default=None, help="simulated calls per protocol per round (default 30; 5 with --quick)")
    args = harness.parse(ap)
    line_s = args.line_seconds or (5 if args.quick else 10)
    audio_s = args.audio_seconds or (1 if args.quick else 2)
    calls = args.calls or (5 if args.quick else 30)

    b = harness.Bench("e1", args, params={"line_seconds": line_s, "audio_seconds": audio_s, "calls": calls},
                      warmup=1)
    framer, slicing = framer_parts(line_s)
    ours, decode_only, textbook = mf_parts(audio_s)
    b.part("slicing", slicing)
    b.part("framer", framer)
    b.part("alaw", decode_only)
    b.part("mf", ours)
    b.part("goertzel", textbook)
    b.part("r2", setup_part("r2-cn", calls))
    b.part("pri", setup_part("pri", calls))
    r2_min, pri_min = r2_minimum_ms(8, 11), pri_minimum_ms()
    b.figure("framer", "framer, one span in real time", "framer.core_percent", unit="% core", goal=("<=", 5),
             headline=True)
    b.compare("framer_vs_slicing", "  framer CPU vs slicing the same bytes", "framer.cpu_ms_per_s",
              "slicing.cpu_ms_per_s", unit="ms/s")
    b.compare("mf", "MF detection, 30 channels, vs A-law decode alone", "mf.cpu_ms_per_s", "alaw.cpu_ms_per_s",
              unit="ms/s", headline=True, better="lower")
    b.compare("mf_vs_goertzel", "  MF detection vs textbook Goertzel", "mf.cpu_ms_per_s", "goertzel.cpu_ms_per_s",
              unit="ms/s", better="lower")
    b.figure("mf_block", "  MF detection per 20 ms block", "mf.us_per_block", unit="us", better="lower")
    b.compare("r2_setup", "R2-CN call setup (simulated) vs protocol minimum", "r2.median_ms", r2_min, unit="ms",
              headline=True, better="lower")
    b.figure("r2_cpu", "  R2-CN CPU per call", "r2.cpu_ms_per_call", unit="ms", better="lower")
    b.compare("pri_setup", "PRI call setup (simulated) vs frames at 64 kbit/s", "pri.median_ms", pri_min, unit="ms",
              better="lower")
    b.figure("pri_cpu", "  PRI CPU per call", "pri.cpu_ms_per_call", unit="ms", better="lower")
    b.noise_from("slicing.cpu_ms_per_s", "alaw.cpu_ms_per_s")
    b.note(f"R2-CN minimum {r2_min} ms: 22 compelled cycles x 4 x 20 ms + 2 x 2 ms CAS; PRI minimum {pri_min:.1f} ms: "
           f"SETUP + CALL PROCEEDING + ALERTING at 64 kbit/s (the simulation steps in 20 ms)")
    b.note("CPU figures are process CPU time per second of line or audio")
    b.run()


if __name__ == "__main__":
    main()
