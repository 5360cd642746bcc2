"""What changed between two configurations of a site (shown by ``scanhub gun build``)."""
from __future__ import annotations

import json

from firmware_images import sections as sec


def _key(section: sec.Section, row) -> tuple:
    if section.scalar:
        return (row,)
    if section.name == "waybill_rules":
        return (row.get("name"),)
    return tuple(row.get(k) for k in section.key)


def _comparable(row) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)


def config_changes(old: dict | None, new: dict) -> list[dict]:
    """Per section: ``{"section", "added", "removed", "changed", "examples"}`` (examples: up to 3
    keys of changed rows), for every section whose content differs; all of ``new`` when ``old``
    is None."""
    out = []
    for section in sec.SECTIONS:
        before = {_key(section, r): _comparable(r) for r in (old or {}).get(section.name) or []}
        after = {_key(section, r): _comparable(r) for r in new.get(section.name) or []}
        added = [k for k in after if k not in before]
        removed = [k for k in before if k not in after]
        changed = [k for k in after if k in before and before[k] != after[k]]
        if added or removed or changed:
            examples = ["+" + "/".join(map(str, k)) for k in added[:3]] + \
                       ["-" + "/".join(map(str, k)) for k in removed[:3]] + \
                       ["~" + "/".join(map(str, k)) for k in changed[:3]]
            out.append({"section": section.name, "added": len(added), "removed": len(removed),
                        "changed": len(changed), "examples": examples[:6]})
    return out
