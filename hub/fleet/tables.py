"""The hub's record of gun images (same tables on SQLite and PostgreSQL).

``gun_device``       one row per gun: identity, the site and image it runs (as last seen by a
                     flash or a read-back), when.
``gun_image_build``  the last image built per site (its bytes, so the next build can say what
                     changed, and an unchanged rebuild can reproduce it byte for byte).
"""
from __future__ import annotations

import peewee as pw

from contract.scan import SITE_LEN
from hub.store.db import Base


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
    site = pw.CharField(primary_key=True, max_length=SITE_LEN)
    image_version = pw.CharField(max_length=80)
    digest = pw.CharField(max_length=64)
    build_ms = pw.BigIntegerField()                        # the image header's build time
    built_ms = pw.BigIntegerField()                        # when the hub built it
    image = pw.BlobField()

    class Meta:
        table_name = "gun_image_build"


TABLES = (GunDevice, GunImageBuild)
