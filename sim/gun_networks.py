"""Generated network slices for gun-image tests and benchmarks (``hub.station_config`` format).

``generate_slice`` builds a plausible national network at any size without the hub store: sites
under their sorting centers, line-haul shifts between centers, staff spread over the sites, gun
users, next-stop rules (origin site → every destination, through the centers), waybill rules,
issuance ranges and a few blocked sites.  The same arguments always give the same slice.
"""
from __future__ import annotations

import hashlib
import random

from contract.scan import KINDS as SCAN_KINDS
from contract.config import hash_pin

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"
PROVINCES = ["11", "31", "32", "33", "44", "51", "37", "41", "42", "43"]
WAYBILL_RULES = [{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"},
                 {"name": "yt15", "prefixes": ["YT"], "pattern": "^YT[0-9]{13}$", "check": "none"}]


def generate_slice(sites: int = 200, staff: int = 1000, rules: int = 2000, users: int = 50,
                   centers: int | None = None, shifts: int | None = None, seed: int = 0,
                   site: str | None = None, real_pins: bool = False) -> dict:
    """A slice for ``site`` (default: the first non-center site).

    ``real_pins`` hashes each user's PIN (``"%04d" % index``) with ``hub.network.hash_pin``, which
    is slow by design; otherwise users get random salts and hashes (fine for size and speed runs).
    """
    rnd = random.Random(seed)
    n_centers = centers or max(1, sites // 50)
    center_codes = [f"9{i:05d}" for i in range(n_centers)]
    site_codes = [f"{i:06d}" for i in range(sites - n_centers)]
    out_sites = []
    center_of = {}
    for i, c in enumerate(center_codes):
        prov = PROVINCES[i % len(PROVINCES)]
        out_sites.append({"code": c, "name": f"Center {c}", "kind": "center", "center": None,
                          "province": prov, "city": prov + "01", "district": None, "blocked": False})
    for i, c in enumerate(site_codes):
        parent = center_codes[i % n_centers]
        center_of[c] = parent
        prov = out_sites[center_codes.index(parent)]["province"]
        out_sites.append({"code": c, "name": f"Site {c} {rnd.choice(SURNAMES)}{rnd.choice(GIVEN)}路",
                          "kind": "site", "center": parent, "province": prov,
                          "city": prov + f"{rnd.randrange(1, 20):02d}",
                          "district": prov + f"{rnd.randrange(100, 9999):04d}", "blocked": rnd.random() < 0.01})
    out_sites.sort(key=lambda s: s["code"])
    all_codes = [s["code"] for s in out_sites]
    home = site or (site_codes[0] if site_codes else center_codes[0])

    n_shifts = shifts if shifts is not None else max(1, n_centers * 3)
    out_shifts = []
    for i in range(n_shifts):
        a, b = rnd.choice(center_codes), rnd.choice(center_codes)
        out_shifts.append({"code": f"L{i:05d}", "from": a, "to": b, "depart": f"{rnd.randrange(24):02d}:{rnd.choice((0, 15, 30, 45)):02d}",
                           "transit_min": rnd.randrange(60, 2400)})

    out_staff = [{"code": f"{i:08d}", "name": rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN),
                  "site": home if i < max(1, staff // 100) else rnd.choice(all_codes),
                  "role": rnd.choice(("courier", "courier", "courier", "clerk", "operator"))}
                 for i in range(staff)]

    out_users = []
    for i in range(min(users, staff)):
        if real_pins:
            salt, digest = hash_pin(f"{i:04d}", hashlib.sha256(f"{seed}/{i}".encode()).hexdigest()[:16])
        else:
            salt, digest = rnd.randbytes(8).hex(), rnd.randbytes(32).hex()
        kinds = [k for k in SCAN_KINDS if rnd.random() < 0.6] or ["receive"]
        out_users.append({"login": out_staff[i]["code"], "staff": out_staff[i]["code"], "site": home,
                          "pin_salt": salt, "pin_hash": digest, "kinds": kinds})

    out_rules = []
    origins = [home] + [c for c in all_codes if c != home]
    shift_codes = [s["code"] for s in out_shifts]
    for origin in origins:
        if len(out_rules) >= rules:
            break
        for dest in all_codes:
            if len(out_rules) >= rules:
                break
            if dest == origin:
                continue
            via = center_of.get(origin, origin)
            nxt = via if via != origin else center_of.get(dest, dest)
            shift = rnd.choice(shift_codes) if rnd.random() < 0.05 else ""
            out_rules.append({"site": origin, "dest": dest, "shift": shift, "next": nxt})
    seen = set()
    unique_rules = []
    for r in out_rules:
        key = (r["site"], r["dest"], r["shift"])
        if key not in seen:
            seen.add(key)
            unique_rules.append(r)
    unique_rules.sort(key=lambda r: (r["site"], r["dest"], r["shift"]))

    issuance = [{"site": c, "first": f"7{i:07d}000000", "last": f"7{i:07d}999999"}
                for i, c in enumerate(all_codes)]
    return {"v": 1, "network": f"generated-{seed}", "site": home, "data_version": f"gen{seed:04d}",
            "sites": out_sites, "staff": out_staff, "gun_users": out_users, "shifts": out_shifts,
            "next_stop": unique_rules, "waybill_rules": list(WAYBILL_RULES),
            "blocked_sites": [s["code"] for s in out_sites if s["blocked"]], "issuance": issuance}
