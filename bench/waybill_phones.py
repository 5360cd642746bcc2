"""Benchmark: what the caller lookup's phone index costs where waybills are written.

    python bench/waybill_phones.py              # 2,000 records per batch, 6 rounds
    python bench/waybill_phones.py --quick      # 500 records per batch, 3 rounds
    options: [--records 2000] [--rounds 6] [--json]

Each round commits a batch of new entered-waybill records (``hub.ingest.pipeline.commit_waybills``:
validation, the record, the folded entry, and each sender's and receiver's number in
``waybill_phone``) and, as the baseline, a like batch with the phone index left out, into the same
SQLite store, in interleaved order (bench/harness.py).  Senders are one of 100 shops, receivers all
different mobile numbers.  Reported: records per second of each, and the time ratio.
"""
from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
import time

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hub.ingest import pipeline  # noqa: E402
from hub.store.db import database  # noqa: E402
from hub.waybills import records  # noqa: E402

T0 = 1_733_000_000_000


def main() -> None:
    ap = harness.parser(__doc__, rounds=6)
    ap.add_argument("--records", type=int, default=None, help="records per batch (2,000; 500 with --quick)")
    args = harness.parse(ap)
    n = args.records or (500 if args.quick else 2000)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from conftest import sample_store, wb
    folder = tempfile.mkdtemp(prefix="bench-wbphones-")
    counter = itertools.count(1)
    real = records.phone_rows

    def batch() -> list[dict]:
        out = []
        for _ in range(n):
            i = next(counter)
            out.append({"id": f"r{i}", "waybill": wb(100000 + i), "site": "100", "station": None, "edge_ms": T0,
                        "event_ms": T0, "fields": {"dest_site": "200", "weight_g": 1200, "sender_name": "shop",
                                                   "sender_phone": f"1360000{i % 100:04d}", "receiver_name": "r",
                                                   "receiver_phone": f"139{i:08d}"}})
        return out

    def commit(index: bool) -> dict:
        recs = batch()
        records.phone_rows = real if index else (lambda waybill, fields: [])
        try:
            t = time.perf_counter()
            pipeline.commit_waybills(recs)
            s = time.perf_counter() - t
        finally:
            records.phone_rows = real
        return {"s": s, "per_s": n / s}

    try:
        sample_store(os.path.join(folder, "hub.db"))
        b = harness.Bench("waybill_phones", args, params={"records": n})
        b.part("bare", lambda r: commit(False))
        b.part("indexed", lambda r: commit(True))
        b.compare("cost", "commit time with the phone index / without", "indexed.s", "bare.s", headline=True,
                  better="lower")
        b.figure("indexed", "records/s with the phone index", "indexed.per_s", better="higher")
        b.figure("bare", "records/s without (baseline)", "bare.per_s", better="higher")
        b.noise_from("bare.s")
        b.run()
    finally:
        database.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
