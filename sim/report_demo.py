"""A week of a small network's traffic for the printable reports, and the pictures in docs/.

``build(path)`` makes a hub store holding the sample network (sim/networks/sample.yaml) and a
week of parcels (2024-06-01 to 2024-06-07, China standard time): received at the Hangzhou sites,
through both centers, delivered and signed in Shanghai (some late, some never), a few stuck on
the way; fees from the sample tariff, deposits with Chinese memos, platform orders.  The same
call always gives the same data.

``python -m sim.report_demo OUTDIR`` writes the reports as HTML and PDF into OUTDIR and renders
them to PNG: HTML pages with Debian's chromium (headless), PDF pages with poppler's pdftoppm.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys

from contract.waybill import check_character

T0 = 1_717_171_200_000            # 2024-06-01 00:00 UTC+08:00
HOUR = 3_600_000
DAY = 24 * HOUR
SIGNERS = ["张伟", "王芳", "李娜", "刘洋", "陈静", "本人", "前台代收", "门卫"]
MEMOS = ["六月第一周充值（银行转账，回单号见凭证）", "补充余额：618 大促前备付金",
         "现金存入，经办人：李强", "月初充值"]


def waybill(n: int) -> str:
    body = f"7{n:012d}"
    return body + check_character("mod10-31", body)


def _scan(i, kind, site, t, wb, station="st-demo", **kw):
    d = {"id": f"demo-{wb}-{i}", "station": station, "seq": i, "kind": kind, "waybill": wb, "site": site,
         "edge_ms": t, "event_ms": t, "clock": "trusted"}
    d.update(kw)
    return d


def scans(days: int = 7, per_day: int = 14, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    n = 0
    for day in range(days):
        for k in range(per_day):
            n += 1
            wb = waybill(n)
            origin = "100" if k % 3 else "101"
            dest = "200" if k % 2 else "201"
            t = T0 + day * DAY + (9 + k % 8) * HOUR + rnd.randrange(0, 50) * 60_000
            seq = iter(range(1, 100))
            route = [
                ("receive", origin, t, dict(courier="1001", dest_site=dest, weight_g=300 + 50 * rnd.randrange(40))),
                ("dispatch", origin, t + 2 * HOUR, dict(dest_site=dest)),
                ("arrive", "900", t + 4 * HOUR, {}),
                ("dispatch", "900", t + 5 * HOUR, dict(dest_site=dest)),
                ("arrive", "901", t + 10 * HOUR, {}),
                ("dispatch", "901", t + 11 * HOUR, dict(dest_site=dest)),
                ("arrive", dest, t + 13 * HOUR, {}),
                ("deliver", dest, t + 15 * HOUR, dict(courier="2001")),
                ("sign", dest, t + 16 * HOUR + rnd.randrange(0, 40) * HOUR, dict(signer=rnd.choice(SIGNERS))),
            ]
            fate = rnd.random()
            if fate < 0.08 + 0.03 * (day % 3):
                route = route[:4]                # stuck between the centers
            elif fate < 0.2:
                route = route[:8]                # delivered, never signed
            for kind, site, when, extra in route:
                out.append(_scan(next(seq), kind, site, when, wb, **extra))
    return out


def build(path: str) -> str:
    """A hub store at ``path`` (SQLite) with the demo week; returns ``path``."""
    from hub.business import accounts, sign_rate, tariff
    from hub.business import orders as po
    from hub.ingest import pipeline
    from hub.network.basic_data import import_network
    from hub.network.file import load_network
    from hub.schema import connect

    here = os.path.dirname(os.path.abspath(__file__))
    connect(path, create=True)
    import_network(load_network(os.path.join(here, "networks", "sample.yaml")))
    accounts.ensure_accounts()
    tariff.install(tariff.load_tariff(os.path.join(here, "networks", "tariff-sample.yaml")))
    for site in ("200", "201"):
        sign_rate.set_deadline("900", site, 36 * 60)
    for i, (site, yuan) in enumerate([("100", 5000), ("101", 3000), ("100", 1200), ("200", 800)]):
        accounts.deposit(site, yuan * 100, f"SLIP-{i + 1:04d}", MEMOS[i % len(MEMOS)])
    batch = scans()
    for i in range(0, len(batch), 200):
        pipeline.commit(batch[i:i + 200])
    po.load_coverage([{"site": "100", "province": "33", "city": "3301"},
                      {"site": "101", "province": "33", "city": "3301", "district": "330108"}])
    po.import_orders(po.read_orders(os.path.join(here, "orders-sample.csv")), "taobao")
    po.pickup("100", [("TB1001", waybill(1)), ("TB1003", waybill(4))])
    return path


REPORTS = [
    ("sign-rate", ["report", "sign-rate", "--since", "2024-06-01", "--until", "2024-06-08",
                   "--as-of", "2024-06-12"]),
    ("monitor-unsigned", ["monitor", "delivered-unsigned", "--all-sites", "--since", "2024-06-01",
                          "--until", "2024-06-08"]),
    ("fee-totals", ["report", "fee-totals", "--month", "2024-06"]),
    ("statement", ["account", "statement", "100"]),
    ("orders", ["orders", "counts", "--by", "status"]),
]


def render_all(db: str, outdir: str) -> list[str]:
    """Each report as HTML and PDF in ``outdir``, and their PNG pictures where the tools exist."""
    from click.testing import CliRunner

    import cli
    os.makedirs(outdir, exist_ok=True)
    made = []
    for name, args in REPORTS:
        for fmt in ("html", "pdf"):
            r = CliRunner().invoke(cli.main, args + ["--format", fmt, "--db", db], catch_exceptions=False)
            if r.exit_code:
                raise SystemExit(f"{' '.join(args)}: {r.output}")
            path = os.path.join(outdir, f"{name}.{fmt}")
            with open(path, "wb") as f:
                f.write(r.stdout_bytes)
            made.append(path)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    for name, _ in REPORTS:
        html = os.path.join(outdir, f"{name}.html")
        if chromium:
            png = os.path.join(outdir, f"{name}-html.png")
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--screenshot={png}", "--window-size=1200,1000", f"file://{os.path.abspath(html)}"],
                           check=True, capture_output=True, timeout=120)
            made.append(png)
        if shutil.which("pdftoppm"):
            stem = os.path.join(outdir, f"{name}-pdf")
            subprocess.run(["pdftoppm", "-png", "-r", "80", os.path.join(outdir, f"{name}.pdf"), stem],
                           check=True, timeout=120)
            made += sorted(os.path.join(outdir, f) for f in os.listdir(outdir)
                           if f.startswith(f"{name}-pdf") and f.endswith(".png"))
    return made


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m sim.report_demo OUTDIR")
    outdir = argv[0]
    db = os.path.join(outdir, "demo-hub.db")
    if os.path.exists(db):
        os.remove(db)
    os.makedirs(outdir, exist_ok=True)
    build(db)
    for p in render_all(db, outdir):
        print(p)


if __name__ == "__main__":
    main()
