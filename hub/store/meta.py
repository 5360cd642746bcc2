"""Key/value facts about the store (``Meta`` table): schema version, data version, network name."""
from __future__ import annotations

from hub.store.tables import Meta


def get_meta(key: str, default: str | None = None) -> str | None:
    row = Meta.get_or_none(Meta.key == key)
    return row.value if row else default


def set_meta(key: str, value: str) -> None:
    Meta.insert(key=key, value=value).on_conflict(conflict_target=[Meta.key], update={Meta.value: value}).execute()
