"""The hub's record of gun images: which guns exist, what they run, and the last image per site.

A gun is *out of date* when the image version it runs is not the current version of its site's
configuration (``hub.network.station_config.site_slice(site)["version"]``).  Tables in
``hub.fleet.tables``.
"""
from __future__ import annotations

from contract.clock import now_ms as _now_ms
from hub.fleet.tables import GunDevice, GunImageBuild
from hub.network.station_config import site_slice


def record_gun(gun, seen_by: str, now_ms: int | None = None) -> None:
    """Store what a gun said about itself (a ``flasher.GunInfo``) after a flash or a read-back."""
    now = now_ms or _now_ms()
    row = {"gun_id": gun.gun_id, "model": gun.model, "firmware": gun.firmware, "site": gun.image_site,
           "image_version": gun.image_version, "data_version": gun.data_version,
           "image_digest": gun.image_digest.hex() if gun.image_digest else None,
           "image_len": gun.image_len, "seen_ms": now, "seen_by": seen_by}
    if seen_by == "flash":
        row["flashed_ms"] = now
    update = {getattr(GunDevice, k): v for k, v in row.items() if k != "gun_id"}
    GunDevice.insert(**row).on_conflict(conflict_target=[GunDevice.gun_id], update=update).execute()


def record_build(site: str, image: bytes, info, now_ms: int | None = None) -> None:
    row = {"site": site, "image_version": info.image_version, "digest": info.digest.hex(),
           "build_ms": info.build_ms, "built_ms": now_ms or _now_ms(), "image": image}
    update = {getattr(GunImageBuild, k): v for k, v in row.items() if k != "site"}
    GunImageBuild.insert(**row).on_conflict(conflict_target=[GunImageBuild.site], update=update).execute()


def last_build(site: str) -> GunImageBuild | None:
    return GunImageBuild.get_or_none(GunImageBuild.site == site)


def fleet(current_version=None) -> list[dict]:
    """Every known gun with ``current_version`` (the site's current image version, or None for an
    unknown site) and ``out_of_date``.  ``current_version(site)`` defaults to the hub's slice."""
    if current_version is None:
        def current_version(site):
            try:
                return site_slice(site)["version"]
            except KeyError:
                return None
    cache: dict[str, str | None] = {}
    out = []
    for g in GunDevice.select().order_by(GunDevice.site, GunDevice.gun_id):
        if g.site is not None and g.site not in cache:
            cache[g.site] = current_version(g.site)
        current = cache.get(g.site) if g.site else None
        if g.image_version is None:
            status = "no image"
        elif current is None:
            status = "site unknown"
        elif current == g.image_version:
            status = "current"
        else:
            status = "out of date"
        out.append({"gun_id": g.gun_id, "model": g.model, "firmware": g.firmware, "site": g.site,
                    "image_version": g.image_version, "current_version": current,
                    "out_of_date": status != "current", "status": status, "image_len": g.image_len,
                    "flashed_ms": g.flashed_ms, "seen_ms": g.seen_ms, "seen_by": g.seen_by})
    return out
