"""Benchmark: the CRM's caller lookup (``scanhub crm lookup --json``'s whole picture) at a million
customers in SQLite.

    python bench/crm.py                 # 1,000,000 customers, 5 rounds
    python bench/crm.py --quick         # 50,000 customers, 3 rounds
    python bench/crm.py --customers 200000 --db /tmp/crm.db --keep
    options: [--rounds 5] [--json]

Customers (1.2 numbers each, 1 % of the numbers shared by two customers, a business record for
every tenth) are generated with a fixed seed and bulk-inserted (not timed), with their parcels:
each customer receives one entered waybill sent by one of 100 shops (so a shop's number is on
1 % of all waybills), and every second customer has a platform order of their own.  Then, in
interleaved rounds (bench/harness.py), the same 400 numbers (known, shared, unknown and 1 % shops,
written in national form) go through ``hub.crm.lookup.lookup`` (normalisation, the indexed phone
query, customers, parcels with where each stands, calls, SMS, quotes, tasks) and, as the baseline,
through a bare indexed ``SELECT customer FROM crm_phone WHERE phone = ?``.  Goal: lookup p99 ≤ 50 ms.
The call and SMS tables are empty here.
"""
from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hub import schema  # noqa: E402
from hub.crm.lookup import lookup  # noqa: E402
from hub.business.tables import OrderPhone, PlatformOrder  # noqa: E402
from hub.crm.tables import CrmCustomer, CrmPhone, CrmRecord  # noqa: E402
from hub.waybills.tables import WaybillEntry, WaybillPhone  # noqa: E402
from hub.store.db import bulk_insert, database  # noqa: E402

PROBES = 400


SHOPS = 100


def mobile(i: int) -> str:
    return f"139{i:08d}"


def shop(k: int) -> str:
    return f"1360000{k:04d}"


def parcels(ids, now: int) -> None:
    """Customer ``i`` receives waybill ``7i`` from shop ``i % SHOPS``; even customers also placed a
    platform order (the waybill ``8i`` bound to it)."""
    import json
    entries, phones, orders, order_phones = [], [], [], []
    for i in ids:
        wb, k = f"7{i:013d}", i % SHOPS
        fields = {"sender_name": f"shop {k}", "sender_phone": shop(k), "receiver_name": f"customer {i}",
                  "receiver_phone": mobile(i), "dest_site": "200", "weight_g": 1200}
        entries.append({"waybill": wb, "origin_site": "100", "dest_site": "200", "weight_g": 1200, "cod_cents": None,
                        "freight_collect_cents": None, "entered_ms": now, "updated_ms": now, "records": 1,
                        "fields_json": json.dumps(fields, ensure_ascii=False)})
        phones += [{"phone": "+86" + shop(k), "waybill": wb, "role": "sender"},
                   {"phone": "+86" + mobile(i), "waybill": wb, "role": "receiver"}]
        if i % 2 == 0:
            orders.append({"order_no": f"TB{i:010d}", "platform": "taobao", "sender": f"customer {i}",
                           "phone": mobile(i), "address": "", "province": "33", "city": "", "district": "",
                           "accept": "accepted", "reason": "", "site": "100", "waybill": f"8{i:013d}",
                           "pickup": "ok", "pickup_reason": "", "imported_ms": now})
            order_phones.append({"phone": "+86" + mobile(i), "order_no": f"TB{i:010d}"})
    bulk_insert(WaybillEntry, entries)
    bulk_insert(WaybillPhone, phones)
    bulk_insert(PlatformOrder, orders)
    bulk_insert(OrderPhone, order_phones)


def generate(n: int, seed: int = 18) -> None:
    rnd = random.Random(seed)
    now = time.time_ns() // 1_000_000
    chunk = 20_000
    for start in range(1, n + 1, chunk):
        ids = range(start, min(n, start + chunk - 1) + 1)
        with database.atomic():
            bulk_insert(CrmCustomer, [{"id": i, "name": f"customer {i}", "category": "sender", "contact": "",
                                       "address": "", "tax_id": "", "email": "", "notes": "", "birthday": "",
                                       "contract_end": "", "owner": "", "tier": "ordinary", "custom_json": "{}",
                                       "pin_hash": "", "created_ms": now, "updated_ms": now, "removed": False}
                                      for i in ids])
            phones = []
            for i in ids:
                phones.append({"phone": "+86" + mobile(i), "customer": i, "kind": "mobile", "extension": "",
                               "written": mobile(i)})
                if i % 5 == 0:
                    phones.append({"phone": f"+86571{i % 10**8:08d}", "customer": i, "kind": "fixed",
                                   "extension": "", "written": ""})
                if i % 100 == 0 and i > 1:     # shared with the previous customer
                    phones.append({"phone": "+86" + mobile(i - 1), "customer": i, "kind": "mobile", "extension": "",
                                   "written": ""})
            bulk_insert(CrmPhone, phones)
            bulk_insert(CrmRecord, [{"customer": i, "origin": "Ningbo", "dest": rnd.choice(("LA", "Hamburg")),
                                     "container": "40HQ", "base_cents": 100000, "rate_cents": 120000,
                                     "carrier": "MSC", "quote_ms": now, "cargo": "", "voyage": "", "schedule": "",
                                     "closed": False} for i in ids if i % 10 == 0])
            parcels(ids, now)


def main() -> None:
    ap = harness.parser(__doc__)
    ap.add_argument("--customers", type=int, default=None, help="customers (1,000,000; 50,000 with --quick)")
    ap.add_argument("--db", default=None, help="the SQLite file (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = harness.parse(ap)
    n = args.customers or (50_000 if args.quick else 1_000_000)
    folder = tempfile.mkdtemp(prefix="bench-crm-")
    path = args.db or os.path.join(folder, "crm.db")
    try:
        schema.connect(path, create=True)
        if CrmCustomer.select().count() != n:
            for t in (CrmPhone, CrmRecord, CrmCustomer, WaybillEntry, WaybillPhone, PlatformOrder, OrderPhone):
                t.delete().execute()
            print(f"generating {n:,} customers …", file=sys.stderr)
            t0 = time.perf_counter()
            generate(n)
            print(f"generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rnd = random.Random(7)
        probes = [shop(k) for k in range(PROBES // 100)]                                  # shops
        probes += [mobile(rnd.randint(1, n)) for _ in range(PROBES - 40 - len(probes))]
        probes += [mobile(i - 1) for i in range(100, n, max(100, n // 20))][:20]           # shared
        probes += [f"137{rnd.randint(0, 10**8 - 1):08d}" for _ in range(PROBES - len(probes))]  # unknown
        e164s = ["+86" + p for p in probes]
        db = database.obj

        def timed(fn, items):
            times = []
            for x in items:
                t = time.perf_counter()
                fn(x)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1]}

        b = harness.Bench("crm", args, params={"customers": n, "probes": len(probes)})
        b.part("bare", lambda r: timed(lambda p: db.execute_sql(
            "SELECT customer FROM crm_phone WHERE phone = ?", (p,)).fetchall(), e164s))
        b.part("lookup", lambda r: timed(lookup, probes))
        b.compare("lookup_p99", "caller lookup, whole picture, p99", "lookup.p99_ms", "bare.p99_ms", unit="ms",
                  figure_goal=("<=", 50), headline=True)
        b.compare("lookup_p50", "caller lookup, whole picture, p50", "lookup.p50_ms", "bare.p50_ms", unit="ms")
        b.figure("bare", "baseline: bare indexed SELECT on crm_phone.phone, p99", "bare.p99_ms", unit="ms",
                 better="lower")
        b.noise_from("bare.p50_ms")
        b.run()
    finally:
        database.close()
        if not args.keep and not args.db:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
