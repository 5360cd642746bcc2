"""Gun configuration image benchmark: build time and size against gzip'd CSV, flash throughput
against the serial line rate.

    python bench/gun_image.py            # 30,000 sites, 500,000 staff, 1,000,000 next-stop rules
    python bench/gun_image.py --quick    # a tenth of that, and a shorter flash

Baselines are measured in the same run: the same data written as one CSV file per section and
gzip-compressed (level 9), and the line rate of the simulated cradle (115,200 baud, 8N1 =
11,520 bytes/s).  Goals: image no larger than the gzip'd CSV, build under 10 s, flash at 90 %
or more of the line rate.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from firmware_images import container, keys  # noqa: E402
from firmware_images.flasher import GunLink, open_port  # noqa: E402
from sim.gun_link import SimulatedGun  # noqa: E402
from sim.gun_networks import generate_slice  # noqa: E402

SECTIONS = ("sites", "staff", "gun_users", "shifts", "next_stop", "waybill_rules", "blocked_sites", "issuance")


def csv_gzip(cfg: dict) -> bytes:
    """All sections as CSV (header row + one row per record), concatenated and gzip'd."""
    buf = io.StringIO()
    for name in SECTIONS:
        rows = cfg[name]
        buf.write(f"# {name}\n")
        if name == "blocked_sites":
            buf.writelines(f"{c}\n" for c in rows)
            continue
        if not rows:
            continue
        fields = sorted({k for r in rows for k in r})
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(fields)
        for r in rows:
            w.writerow(["|".join(v) if isinstance(v, list) else ("" if v is None else v)
                        for v in (r.get(f) for f in fields)])
    return gzip.compress(buf.getvalue().encode("utf-8"), compresslevel=9, mtime=0)


def bench_build(sites: int, staff: int, rules: int, users: int) -> None:
    t = time.perf_counter()
    cfg = generate_slice(sites=sites, staff=staff, rules=rules, users=users, seed=7)
    gen_s = time.perf_counter() - t
    print(f"data: {len(cfg['sites']):,} sites, {len(cfg['staff']):,} staff, {len(cfg['gun_users']):,} gun users, "
          f"{len(cfg['shifts']):,} shifts, {len(cfg['next_stop']):,} next-stop rules (generated in {gen_s:.1f} s)")
    key = keys.Ed25519PrivateKey.generate()

    t = time.perf_counter()
    baseline = csv_gzip(cfg)
    csv_s = time.perf_counter() - t
    t = time.perf_counter()
    image = container.build_image(cfg, key, 0)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    container.read_image(image, key.public_key())
    read_s = time.perf_counter() - t

    info = container.parse_image(image)
    print("section        rows      stored       raw")
    for s in info.sections:
        print(f"{s.name:<14}{s.rows:>9,}{s.stored_len:>12,}{s.raw_len:>12,}")
    ratio = len(image) / len(baseline)
    print(f"image size     {len(image):,} bytes; gzip'd CSV {len(baseline):,} bytes; ratio {ratio:.3f} "
          f"({'meets' if ratio <= 1 else 'MISSES'} goal <= 1)")
    print(f"build time     {build_s:.2f} s ({'meets' if build_s < 10 else 'MISSES'} goal < 10 s); "
          f"CSV+gzip of the same data {csv_s:.2f} s (ratio {build_s / csv_s:.2f}); full check+decode {read_s:.2f} s")


def bench_flash(sites: int, rules: int, baud: int) -> None:
    cfg = generate_slice(sites=sites, staff=300, rules=rules, users=20, seed=11)
    key = keys.Ed25519PrivateKey.generate()
    image = container.build_image(cfg, key, 0)
    line_rate = baud / 10   # bytes/s, 8N1
    with tempfile.TemporaryDirectory() as d:
        gun = SimulatedGun(d, gun_id="BENCH", public_key_hex=keys.public_raw(key).hex(), baud=baud,
                           max_chunk=4096).start()
        try:
            port = open_port(gun.port, baud)
            link = GunLink(port, timeout=3.0)
            t = time.perf_counter()
            result = link.flash(image)
            seconds = time.perf_counter() - t
            port.close()
        finally:
            gun.stop()
    rate = result.bytes_sent / seconds
    ratio = rate / line_rate
    print(f"flash          {result.bytes_sent:,} image bytes in {seconds:.2f} s over a pty paced at {baud} baud "
          f"({result.chunks_total} chunks of up to 4096 bytes, {result.retries} retries)")
    print(f"flash rate     {rate:,.0f} bytes/s; line rate {line_rate:,.0f} bytes/s; ratio {ratio:.3f} "
          f"({'meets' if ratio >= 0.9 else 'MISSES'} goal >= 0.90)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the data and a shorter flash")
    ap.add_argument("--baud", type=int, default=115_200)
    a = ap.parse_args()
    div = 10 if a.quick else 1
    bench_build(30_000 // div, 500_000 // div, 1_000_000 // div, 5_000 // div)
    bench_flash(2_000 if a.quick else 6_000, 4_000 if a.quick else 12_000, a.baud)


if __name__ == "__main__":
    main()
