"""The configuration slice the hub publishes (retained) to each station, and builds gun images from.

Slice format (JSON object, ``"v": 1``; its hash is ``contract.config.config_hash``)::

    {"v": 1, "network": "sample", "site": "100", "station": "st-100-1",
     "data_version": "3f2a…", "version": "9c1d4e7a0b3f6a21", "hash": "<sha256 of the canonical body>",
     "sites":     [{"code", "name", "kind", "center", "province", "city", "district", "blocked"}],
     "staff":     [{"code", "name", "site", "role"}]                    # this site's staff
     "gun_users": [{"login", "staff", "site", "pin_salt", "pin_hash", "kinds": [...]}]  # this site's
     "shifts":    [{"code", "from", "to", "depart", "transit_min"}]     # the whole line-haul graph
     "next_stop": [{"site", "dest", "shift", "next"}]                   # rules for this site
     "waybill_rules": [{"name", "pattern"?, "prefixes"?, "lengths"?, "check"}],
     "blocked_sites": ["…"],
     "issuance":  [{"site", "first", "last"}],
     "reasons":   [{"code", "name", "kinds": ["problem", "hold"]}],   # problem and hold reason codes
     "prepaid":   {"parcels_left": N}}      # only when the site is close to being blocked

``hash`` covers everything but ``station``, ``version``, ``data_version`` and ``hash`` itself,
serialised with sorted keys and no spaces.  ``version`` is the first 16 hex digits of the hash: it
changes exactly when the site's slice changes, whatever else was re-imported (``data_version``
names the import it came from).
"""
from __future__ import annotations

from contract.config import config_hash, verify_config
from hub.network import basic_data
from hub.network import tables as m
from hub.store.meta import get_meta


def site_slice(site: str, station: str | None = None) -> dict:
    """The configuration for ``site`` (raises ``KeyError`` for an unknown site)."""
    if m.Site.get_or_none(m.Site.code == site) is None:
        raise KeyError(f"unknown site {site}")
    # the call center's fields (the telephone area code) stay at the hub: the slice is the
    # station and gun contract, unchanged by them
    sites = [{k: v for k, v in s.items() if k != "area_code"} for s in basic_data.sites()]
    body = {
        "v": 1,
        "network": get_meta("network", "network"),
        "site": site,
        "data_version": get_meta("data_version", "0"),
        "sites": sites,
        "staff": [{"code": p.code, "name": p.name, "site": p.site, "role": p.role}
                  for p in m.Staff.select().where(m.Staff.site == site).order_by(m.Staff.code)],
        "gun_users": [{"login": u.login, "staff": u.staff, "site": u.site, "pin_salt": u.pin_salt,
                       "pin_hash": u.pin_hash, "kinds": u.kinds.split(",") if u.kinds else []}
                      for u in m.GunUser.select().where(m.GunUser.site == site).order_by(m.GunUser.login)],
        "shifts": basic_data.shifts(),
        "next_stop": [{"site": r.site, "dest": r.dest, "shift": r.shift, "next": r.next_site}
                      for r in m.NextStopRule.select().where(m.NextStopRule.site == site)
                      .order_by(m.NextStopRule.dest, m.NextStopRule.shift)],
        "waybill_rules": basic_data.waybill_rules(),
        "blocked_sites": [s["code"] for s in sites if s["blocked"]],
        "issuance": [{"site": r.site, "first": r.first, "last": r.last}
                     for r in m.Issuance.select().order_by(m.Issuance.first)],
    }
    reasons = basic_data.reasons()
    if reasons:             # absent when the network has none: older slices keep their hash
        body["reasons"] = reasons
    left = get_meta(f"parcels_left:{site}")      # written by hub.business.accounts.update_blocks
    if left:
        body["prepaid"] = {"parcels_left": int(left)}
    digest = config_hash(body)
    return dict(body, station=station, hash=digest, version=digest[:16])


verify_slice = verify_config
