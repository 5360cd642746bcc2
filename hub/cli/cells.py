"""How one value prints in a cell of a table, CSV, HTML or PDF report (``render``, ``printable``)."""
from __future__ import annotations


def cell_text(v) -> str:
    """One cell for people: empty for None, yes/no for booleans, else the value as text."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)
