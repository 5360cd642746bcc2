"""The hub's record of gun images: which guns exist, what they run, and the last image per site.

Tables (in the hub store, same models on SQLite and PostgreSQL):

``gun_device``       one row per gun: identity, the site and image it runs (as last seen by a
                     flash or a read-back), when.
``gun_image_build``  the last image built per site (its bytes, so the next build can say what
                     changed, and an unchanged rebuild can reproduce it byte for byte).

A gun is *out of date* when the image version it runs is not the current version of its site's
configuration (``hub.station_config.site_slice(site)["version"]``).
"""
from __future__ import annotations

import time

import peewee as pw

from hub.db import database
from hub.models import Base


class GunDevice(Base):
    gun_id = pw.CharField(primary_key=True, max_length=64)
    model = pw.CharField(max_length=64)
    firmware = pw.CharField(max_length=32, null=True)
    site = pw.CharField(max_length=32, null=True)          # site of the image it runs
    image_version = pw.CharField(max_length=80, null=True)
    data_version = pw.CharField(max_length=80, null=True)
    image_digest = pw.CharField(max_length=64, null=True)  # hex SHA-256 of the whole image
    image_len = pw.IntegerField(null=True)                 # bytes
    flashed_ms = pw.BigIntegerField(null=True)             # UTC epoch ms of the last flash from here
    seen_ms = pw.BigIntegerField()                         # UTC epoch ms of the last contact
    seen_by = pw.CharField(max_length=16)                  # "flash" or "read-back"

    class Meta:
        table_name = "gun_device"


class GunImageBuild(Base):
    site = pw.CharField(primary_key=True, max_length=32)
    image_version = pw.CharField(max_length=80)
    digest = pw.CharField(max_length=64)
    build_ms = pw.BigIntegerField()                        # the image header's build time
    built_ms = pw.BigIntegerField()                        # when the hub built it
    image = pw.BlobField()

    class Meta:
        table_name = "gun_image_build"


def ensure_tables() -> None:
    """Create the fleet tables in a store initialised before they existed (idempotent)."""
    database.create_tables([GunDevice, GunImageBuild], safe=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def record_gun(gun, seen_by: str, now_ms: int | None = None) -> None:
    """Store what a gun said about itself (a ``flasher.GunInfo``) after a flash or a read-back."""
    ensure_tables()
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
    ensure_tables()
    row = {"site": site, "image_version": info.image_version, "digest": info.digest.hex(),
           "build_ms": info.build_ms, "built_ms": now_ms or _now_ms(), "image": image}
    update = {getattr(GunImageBuild, k): v for k, v in row.items() if k != "site"}
    GunImageBuild.insert(**row).on_conflict(conflict_target=[GunImageBuild.site], update=update).execute()


def last_build(site: str) -> GunImageBuild | None:
    ensure_tables()
    return GunImageBuild.get_or_none(GunImageBuild.site == site)


def fleet(current_version=None) -> list[dict]:
    """Every known gun with ``current_version`` (the site's current image version, or None for an
    unknown site) and ``out_of_date``.  ``current_version(site)`` defaults to the hub's slice."""
    ensure_tables()
    if current_version is None:
        from hub.station_config import site_slice

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
