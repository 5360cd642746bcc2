"""E1 benchmarks: framer CPU, MF detection CPU, call setup time against the protocol minimum.

Run: ``python bench/e1.py`` (about half a minute).  Every figure is printed with the baseline
measured in the same run and the ratio, plus the absolute value.

1. Framer: CPU seconds per second of E1 line (8000 frames) for transmit framing (CAS, CRC-4)
   plus receive deframing (alignment checks, CRC-4, CAS, alarms).  Goal: one span in real time
   with at most 5 % of a core.  Baseline: only touching the same bytes (timeslot slicing and
   reassembly, no framing logic).
2. MF detection on 30 channels: CPU seconds per second of audio (30 × 50 blocks of 20 ms),
   A-law decode included.  Baselines: A-law decode alone; the textbook per-sample Goertzel
   recursion for the same six frequencies.
3. Call setup on the simulated span pair (seizure/SETUP to accepted, simulated ms) for R2-CN and
   PRI against the protocol's own minimum:
   * R2-CN: compelled cycles × 4 signal transitions × 20 ms recognition (one 20 ms analysis
     block, the shortest that separates 120 Hz-spaced MF frequencies) + the CAS seizure and
     acknowledgement (one 2 ms multiframe each);
   * PRI: transmission of SETUP, CALL PROCEEDING and ALERTING (with LAPD and HDLC overhead)
     at 64 kbit/s.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from drivers.e1_card import alaw, mf  # noqa: E402
from drivers.e1_card.framer import Deframer, Framer  # noqa: E402
from drivers.e1_card.tones import goertzel_power  # noqa: E402


def cpu(fn, *args):
    t = time.process_time()
    out = fn(*args)
    return time.process_time() - t, out


def bench_framer(seconds: int = 10) -> None:
    n_mf = 500 * seconds
    payload = os.urandom(512)
    abcd = {ts: 0b1011 for ts in list(range(1, 16)) + list(range(17, 32))}

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

    def baseline():
        out = []
        for i in range(0, n_mf, 10):
            chunk = b"".join(mfs[i:i + 10])
            for ts in (0, 16):
                out.append(chunk[ts::32])
            out.append(bytes(chunk))
        return out

    t_base, _ = cpu(baseline)
    per_s = (t_tx + t_rx) / seconds
    print(f"framer: {per_s * 100:.2f} % of a core per E1 span in real time "
          f"(tx {t_tx / seconds * 1000:.1f} ms + rx {t_rx / seconds * 1000:.1f} ms CPU per s of line); "
          f"goal <= 5 %: {'met' if per_s <= 0.05 else 'NOT met'}")
    print(f"        baseline (slicing the same bytes only): {t_base / seconds * 1000:.2f} ms per s; "
          f"ratio framer/baseline {per_s / max(t_base / seconds, 1e-9):.1f}x")


def bench_mf(seconds: int = 2) -> None:
    blocks = [alaw.encode(mf.mf_samples(1 + (i % 15), True, offset_hz=(i % 7) - 3)) for i in range(30)]
    det = mf.MFDetector(True)
    n = 50 * seconds

    def ours():
        hits = 0
        for _ in range(n):
            for b in blocks:
                hits += det.detect_alaw(b) is not None
        return hits

    t_ours, hits = cpu(ours)
    assert hits == 30 * n

    def decode_only():
        for _ in range(n):
            for b in blocks:
                alaw.decode_float(b)

    t_dec, _ = cpu(decode_only)
    n_g = max(1, n // 10)

    def textbook():
        for _ in range(n_g):
            for b in blocks:
                x = alaw.decode(b)
                for f in mf.FORWARD:
                    goertzel_power(x, f)

    t_g, _ = cpu(textbook)
    t_g *= n / n_g
    per_s = t_ours / seconds
    print(f"MF detection, 30 channels: {per_s * 100:.1f} % of a core "
          f"({per_s * 1000:.0f} ms CPU per s of audio, {t_ours / (30 * n) * 1e6:.0f} us per 20 ms block)")
    print(f"        baselines: A-law decode alone {t_dec / seconds * 1000:.0f} ms per s "
          f"(detector/decode {t_ours / max(t_dec, 1e-9):.1f}x); textbook Goertzel recursion "
          f"{t_g / seconds * 1000:.0f} ms per s (ours is {t_g / max(t_ours, 1e-9):.1f}x faster)")


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


def bench_setup(calls: int = 30) -> None:
    from sim.e1_carrier import run_calls
    for protocol in ("r2-cn", "pri"):
        wall = time.perf_counter()
        res = run_calls(protocol, calls, concurrent=1 if protocol == "r2-cn" else 1, hold_ms=100, dnis_len=8)
        wall = time.perf_counter() - wall
        s = res.summary()
        assert s["failed"] == 0, s
        med = s["setup_ms"]["median"]
        minimum = r2_minimum_ms(8, 11) if protocol == "r2-cn" else pri_minimum_ms()
        what = ("22 compelled cycles x 4 x 20 ms + 2 x 2 ms CAS" if protocol == "r2-cn"
                else "SETUP + CALL PROCEEDING + ALERTING at 64 kbit/s")
        print(f"call setup {protocol}: median {med:.0f} ms simulated (min {s['setup_ms']['min']}, "
              f"max {s['setup_ms']['max']}) over {calls} calls; protocol minimum {minimum:.0f} ms "
              f"({what}); ratio {med / minimum:.2f}x; {res.cpu_s / calls * 1000:.0f} ms CPU per call "
              f"({wall:.1f} s wall)")


if __name__ == "__main__":
    bench_framer()
    bench_mf()
    bench_setup()
