"""Next stop of a dispatch scan, from plain data (the hub, the edge and the docs share it).

Order of precedence (SPEC 4, "Next stop"):

1. the next site written on the scan itself (the caller checks that first);
2. the next-stop table: (current site, destination, shift) then (current site, destination, any);
3. the shift: a line-haul run that leaves the current site goes to its ``to`` site;
4. the route through the network graph: shifts are directed edges, and every site is linked both
   ways with its parent center; the first hop of the shortest path, ties broken by site code;
5. otherwise unknown (``None``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class RoutingData:
    rules: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (site, dest, shift|"")
    shifts: dict[str, tuple[str, str]] = field(default_factory=dict)      # code -> (from, to)
    centers: dict[str, str | None] = field(default_factory=dict)          # site -> parent center
    _graph: dict[str, list[str]] | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, cfg: dict) -> "RoutingData":
        """Build from the station configuration slice (see ``hub.station_config``)."""
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

    def resolve(self, site: str, dest: str | None, shift: str | None = None) -> str | None:
        """The next site for a parcel at ``site`` going to ``dest`` on ``shift`` (either may be None)."""
        shift = shift or ""
        if dest:
            if dest == site:
                return None
            if shift and (site, dest, shift) in self.rules:
                return self.rules[(site, dest, shift)]
            if (site, dest, "") in self.rules:
                return self.rules[(site, dest, "")]
        if shift and shift in self.shifts and self.shifts[shift][0] == site:
            return self.shifts[shift][1]
        if dest:
            return self.route_first_hop(site, dest)
        return None
