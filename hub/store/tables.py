"""Tables of the store itself: key/value facts (schema version, data version, network name)."""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class Meta(Base):
    """Key/value facts about the store: schema version, data version, network name."""
    key = pw.CharField(primary_key=True, max_length=64)
    value = pw.TextField()


TABLES = (Meta,)
