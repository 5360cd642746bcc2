"""The gun's own next-stop resolver, working on the image's compact tables as gun firmware does.

It never touches the hub's code: it reads the integer columns of the ``sites``, ``shifts`` and
``next_stop`` sections (site and shift indices, see ``firmware_images.sections``), packs each
rule's (site, dest, shift) into one integer, and finds rules by binary search.  The answer must be
the hub's (``hub.next_stop``; a test compares both over generated networks), in the same order:

1. a rule for (site, dest, shift), then for (site, dest, any shift);
2. the shift's own destination, when the shift leaves this site;
3. the first hop of the shortest path through shifts (directed) and site↔center links (both
   ways), neighbours tried in site-code order (= index order: sites are stored sorted);
4. otherwise none.  A destination equal to the site skips the rules and the route (the parcel
   is where it is going): only a shift leaving the site still gives a next stop.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import deque

from firmware_images import columns as col
from firmware_images import container
from firmware_images import sections as sec


class GunRouter:
    def __init__(self, site_codes: list[str], centers: list[int], shift_codes: list[str],
                 shift_from: list[int], shift_to: list[int], rule_keys: list[int], rule_next: list[int]):
        self.site_codes = site_codes
        self.site_index = {c: i for i, c in enumerate(site_codes)}
        self.shift_index = {c: i for i, c in enumerate(shift_codes)}
        self.shift_from, self.shift_to = shift_from, shift_to
        self.rule_keys, self.rule_next = rule_keys, rule_next
        self._n_shift = len(shift_codes) + 1
        self._n_site = len(site_codes)
        adj: list[set[int]] = [set() for _ in site_codes]
        for a, b in zip(shift_from, shift_to):
            adj[a].add(b)
        for s, c in enumerate(centers):
            if c >= 0 and c != s:
                adj[s].add(c)
                adj[c].add(s)
        self.adj = [sorted(n) for n in adj]

    @classmethod
    def from_image(cls, data: bytes, info: container.ImageInfo) -> "GunRouter":
        """Build from a checked image's stored columns (indices, not codes)."""
        def cols(name):
            entry = info.section(name)
            return sec.raw_columns(sec.BY_NAME[name], container.section_payload(data, entry))

        n, c = cols("sites")
        site_codes = col.decode_texts(c["code"][1], n, "sites.code")
        centers = [v - 1 for v in col.decode_ints(c["center"][1], n, "sites.center")]
        n, c = cols("shifts")
        shift_codes = col.decode_texts(c["code"][1], n, "shifts.code")
        shift_from = [v - 1 for v in col.decode_ints(c["from"][1], n, "shifts.from")]
        shift_to = [v - 1 for v in col.decode_ints(c["to"][1], n, "shifts.to")]
        n, c = cols("next_stop")
        sites = col.decode_ints(c["site"][1], n, "next_stop.site")
        dests = col.decode_ints(c["dest"][1], n, "next_stop.dest")
        shifts = col.decode_ints(c["shift"][1], n, "next_stop.shift")
        nexts = [v - 1 for v in col.decode_ints(c["next"][1], n, "next_stop.next")]
        ns, nh = len(site_codes), len(shift_codes) + 1
        keys = [((s - 1) * ns + (d - 1)) * nh + h for s, d, h in zip(sites, dests, shifts)]
        return cls(site_codes, centers, shift_codes, shift_from, shift_to, keys, nexts)

    def _rule(self, site: int, dest: int, shift: int) -> int | None:
        key = (site * self._n_site + dest) * self._n_shift + shift
        i = bisect_left(self.rule_keys, key)
        if i < len(self.rule_keys) and self.rule_keys[i] == key:
            return self.rule_next[i]
        return None

    def _first_hop(self, site: int, dest: int | None) -> int | None:
        if dest is None or not self.adj[site]:
            return None
        first: dict[int, int] = {}
        queue: deque[int] = deque()
        for n in self.adj[site]:
            if n not in first and n != site:
                first[n] = n
                queue.append(n)
        while queue:
            node = queue.popleft()
            if node == dest:
                return first[node]
            for n in self.adj[node]:
                if n not in first and n != site:
                    first[n] = first[node]
                    queue.append(n)
        return None

    def resolve(self, site: str, dest: str | None, shift: str | None = None) -> str | None:
        """Next site code for a parcel at ``site`` bound for ``dest`` on ``shift`` (None if unknown)."""
        s = self.site_index.get(site)
        if s is None:
            return None
        if dest == site:
            dest = None
        d = self.site_index.get(dest) if dest else None
        h = self.shift_index.get(shift) if shift else None
        if d is not None:
            if h is not None:
                hit = self._rule(s, d, h + 1)
                if hit is not None:
                    return self.site_codes[hit]
            hit = self._rule(s, d, 0)
            if hit is not None:
                return self.site_codes[hit]
        if h is not None and self.shift_from[h] == s:
            return self.site_codes[self.shift_to[h]]
        if dest:
            hop = self._first_hop(s, d)
            return None if hop is None else self.site_codes[hop]
        return None
