"""Gun configuration image benchmark: build time and size against gzip'd CSV, flash throughput
against the serial line rate.

    python bench/gun_image.py            # 30,000 sites, 500,000 staff, 1,000,000 next-stop rules
    python bench/gun_image.py --quick    # a tenth of that, and a shorter flash
    options: [--rounds 5] [--json] [--baud 115200]

Baselines: the same data written as one CSV file per section and gzip-compressed (level 9),
built in the same rounds as the image (bench/harness.py: order reversed every other round,
ratios per round), and the line rate of the simulated cradle (115,200 baud, 8N1 = 11,520
bytes/s), a constant.  Goals: image no larger than the gzip'd CSV, build under 10 s, flash at
90 % or more of the line rate.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import sys
import tempfile
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the product's modules this bench drives
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


def build_parts(sites: int, staff: int, rules: int, users: int, log):
    """(image build part, CSV+gzip baseline part) over one generated slice of the network."""
    t = time.perf_counter()
    cfg = generate_slice(sites=sites, staff=staff, rules=rules, users=users, seed=7)
    gen_s = time.perf_counter() - t
    log(f"data: {len(cfg['sites']):,} sites, {len(cfg['staff']):,} staff, {len(cfg['gun_users']):,} gun users, "
        f"{len(cfg['shifts']):,} shifts, {len(cfg['next_stop']):,} next-stop rules (generated in {gen_s:.1f} s)")
    key = keys.Ed25519PrivateKey.generate()
    shown = []

    def build(r):
        t = time.perf_counter()
        image = container.build_image(cfg, key, 0)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        container.read_image(image, key.public_key())
        read_s = time.perf_counter() - t
        if not shown:
            shown.append(True)
            info = container.parse_image(image)
            log("section        rows      stored       raw")
            for s in info.sections:
                log(f"{s.name:<14}{s.rows:>9,}{s.stored_len:>12,}{s.raw_len:>12,}")
        return {"seconds": build_s, "bytes": len(image), "read_seconds": read_s}

    def csv_baseline(r):
        t = time.perf_counter()
        baseline = csv_gzip(cfg)
        return {"seconds": time.perf_counter() - t, "bytes": len(baseline)}
    return build, csv_baseline


def flash_part(sites: int, rules: int, baud: int):
    cfg = generate_slice(sites=sites, staff=300, rules=rules, users=20, seed=11)
    key = keys.Ed25519PrivateKey.generate()
    image = container.build_image(cfg, key, 0)

    def flash(r):
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
        return {"bytes": result.bytes_sent, "seconds": seconds, "bytes_per_s": result.bytes_sent / seconds,
                "chunks": result.chunks_total, "retries": result.retries}
    return flash, len(image)


def main() -> None:
    ap = harness.parser(__doc__.splitlines()[0])
    ap.add_argument("--baud", type=int, default=115_200)
    a = harness.parse(ap)
    div = 10 if a.quick else 1
    sites, staff, rules, users = 30_000 // div, 500_000 // div, 1_000_000 // div, 5_000 // div
    flash_sites, flash_rules = (1_000, 2_000) if a.quick else (6_000, 12_000)
    b = harness.Bench("gun_image", a, params={"sites": sites, "staff": staff, "rules": rules, "users": users,
                                              "flash_sites": flash_sites, "flash_rules": flash_rules, "baud": a.baud})
    build, csv_baseline = build_parts(sites, staff, rules, users, b.log)
    flash, flash_bytes = flash_part(flash_sites, flash_rules, a.baud)
    line_rate = a.baud / 10   # bytes/s, 8N1
    b.part("csv", csv_baseline)
    b.part("build", build)
    b.part("flash", flash)
    b.compare("size", "image size vs gzip'd CSV", "build.bytes", "csv.bytes", unit="B", goal=("<=", 1),
              headline=True)
    b.compare("build", "build time vs CSV + gzip", "build.seconds", "csv.seconds", unit="s", figure_goal=("<", 10),
              headline=True)
    b.figure("read", "  full check + decode", "build.read_seconds", unit="s", better="lower")
    b.compare("flash", f"flash over a pty paced at {a.baud} baud vs line rate", "flash.bytes_per_s", line_rate,
              unit="B/s", goal=(">=", 0.9), headline=True)
    b.figure("flash_retries", "  flash retries", "flash.retries", better="lower")
    b.noise_from("csv.seconds")
    b.note(f"flash: an image of {flash_bytes:,} bytes in chunks of up to 4096 bytes; line rate {line_rate:,.0f} B/s "
           f"(8N1) is a constant")
    if a.quick:
        b.note("quick run: a tenth of the data and a smaller flash; the goals are set for the full size")
    b.run()


if __name__ == "__main__":
    main()
