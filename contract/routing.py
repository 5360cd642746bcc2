"""Next stop of a dispatch scan, from plain data: the edge, the hub and gun images share it.

Order of precedence (docs/network.md, "How a dispatch scan finds its next stop"):

1. the next site written on the scan itself (``%S``; the caller checks that first: ``"scan"``);
2. the next-stop table: (current site, destination, shift) then (current site, destination, any
   shift): ``"table"``;
3. the shift: a line-haul run that leaves the current site goes to its ``to`` site: ``"shift"``;
4. the route through the network graph: shifts are directed edges, and every site is linked both
   ways with its parent center; the first hop of the shortest path, ties broken by site code:
   ``"route"``;
5. otherwise unknown (``None``).

A destination equal to the current site skips the table and the route (the parcel is where it is
going), but a shift leaving the site still names the next stop: the operator chose that run.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class RoutingData:
    rules: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (site, dest, shift|"")
    shifts: dict[str, tuple[str, str]] = field(default_factory=dict)      # code -> (from, to)
    centers: dict[str, str | None] = field(default_factory=dict)          # site -> parent center
    _graph: dict[str, list[str]] | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, cfg: Mapping) -> "RoutingData":
        """Build from a station configuration slice or a network dict (``next_stop``, ``shifts``,
        ``sites``)."""
        return cls(
            rules={(r["site"], r["dest"], r.get("shift") or ""): r["next"] for r in cfg.get("next_stop", [])},
            shifts={s["code"]: (s["from"], s["to"]) for s in cfg.get("shifts", [])},
            centers={s["code"]: s.get("center") for s in cfg.get("sites", [])},
        )

    def graph(self) -> dict[str, list[str]]:
        if self._graph is None:
            g: dict[str, set[str]] = {}
            for a, b in self.shifts.values():
                g.setdefault(a, set()).add(b)
            for site, center in self.centers.items():
                if center and center != site:
                    g.setdefault(site, set()).add(center)
                    g.setdefault(center, set()).add(site)
            self._graph = {k: sorted(v) for k, v in g.items()}
        return self._graph

    def route_first_hop(self, site: str, dest: str) -> str | None:
        g = self.graph()
        if site not in g:
            return None
        first: dict[str, str] = {}
        queue = deque()
        for n in g[site]:
            if n not in first and n != site:
                first[n] = n
                queue.append(n)
        while queue:
            node = queue.popleft()
            if node == dest:
                return first[node]
            for n in g.get(node, ()):
                if n not in first and n != site:
                    first[n] = first[node]
                    queue.append(n)
        return None

    def resolve_with_source(self, site: str, dest: str | None, shift: str | None = None
                            ) -> tuple[str | None, str | None]:
        """``(next site, source)`` for a parcel at ``site`` going to ``dest`` on ``shift`` (either
        may be None); source is ``"table"``, ``"shift"`` or ``"route"``, ``(None, None)`` when
        nothing applies."""
        shift = shift or ""
        if dest == site:
            dest = None
        if dest:
            if shift and (site, dest, shift) in self.rules:
                return self.rules[(site, dest, shift)], "table"
            if (site, dest, "") in self.rules:
                return self.rules[(site, dest, "")], "table"
        if shift and shift in self.shifts and self.shifts[shift][0] == site:
            return self.shifts[shift][1], "shift"
        if dest:
            hop = self.route_first_hop(site, dest)
            if hop:
                return hop, "route"
        return None, None

    def resolve(self, site: str, dest: str | None, shift: str | None = None) -> str | None:
        """The next site for a parcel at ``site`` going to ``dest`` on ``shift``, or None."""
        return self.resolve_with_source(site, dest, shift)[0]
