"""Pre-dispatch comparison (预报, docs/hub-business.md).

``site_forecast(site)`` lists the parcels a site holds now: its latest movement scan (receive,
dispatch, arrive, deliver, sign) is a receive or an arrival at that site.  The hub pushes the list
to the site's stations, which compare it offline (``contract.forecast.compare``) with the
waybills of the bag or run being dispatch-scanned.
"""
from __future__ import annotations

from hub.business import tables as bm
from hub.store.db import database


def site_forecast(site: str) -> list[dict]:
    """What ``site`` holds: ``[{"waybill", "kind", "since_ms", "from_site", "dest_site"}]``, oldest first."""
    P = bm.ParcelFact
    q = (P.select(P.waybill, P.holder_kind, P.holder_since_ms, P.holder_from, P.dest_site)
         .where(P.holder == site).order_by(P.holder_since_ms, P.waybill))
    return [{"waybill": p.waybill, "kind": p.holder_kind, "since_ms": p.holder_since_ms,
             "from_site": p.holder_from, "dest_site": p.dest_site} for p in q]


def held_waybills(site: str) -> list[str]:
    """The waybills of ``site_forecast(site)`` alone, in its order: what the hub pushes to the
    site's stations (one indexed read, no row objects: a site may hold a hundred thousand)."""
    db = database.obj
    cur = db.execute_sql(f'SELECT "waybill" FROM "parcel_fact" WHERE "holder" = {db.param} '
                         'ORDER BY "holder_since_ms", "waybill"', (site,))
    return [r[0] for r in cur.fetchall()]
