"""Per-station sequence reconciliation: which scans a station made that the hub has not seen.

Every scan carries its station's outbox ``epoch`` and a sequence number 1, 2, 3…  A number that
is neither a committed scan, an audited deletion nor a dead-lettered scan is a gap: a scan that
is still on its way (or lost).  Gaps are reported as ranges per station and epoch, up to the
highest seq the hub holds or the station last reported in its status (``max_seq``), whichever is
higher: so scans a station made that never reached this store show even when the station makes
no new ones (a store restored from a backup, docs/operations.md).

Each epoch's hash chain (``contract.chain``) is verified as its scans commit
(``hub.scans.chain_check``); ``gaps`` reads those verdicts: ``breaks`` per kind (altered, missing,
renumbered, reordered, replayed), ``altered`` all their seqs as ranges, ``unverified`` chained scans
whose predecessor has not arrived.  ``recheck`` recomputes them from every scan the hub holds and
says where the stored ones differ.  An epoch of a station on older software has no chain
(``chained: false``) and is judged by its sequence numbers alone, as before.
"""
from __future__ import annotations

import json

from contract.chain import content_digest
from contract.protocol import seq_ranges
from contract.scan import CONTENT_FIELDS
from hub.network.stations import reported_seqs
from hub.scans import chain_check
from hub.scans import tables as m


def _seqs_by_station(station: str | None):
    found: dict[tuple[str, str], set[int]] = {}
    q1 = m.ScanEvent.select(m.ScanEvent.station, m.ScanEvent.epoch, m.ScanEvent.seq)
    q2 = m.Deletion.select(m.Deletion.station, m.Deletion.epoch, m.Deletion.seq)
    if station:
        q1 = q1.where(m.ScanEvent.station == station)
        q2 = q2.where(m.Deletion.station == station)
    for q in (q1, q2):
        for st, epoch, seq in q.tuples().iterator():
            found.setdefault((st, epoch), set()).add(seq)
    dl = m.DeadLetter.select(m.DeadLetter.station, m.DeadLetter.seq).where(m.DeadLetter.seq.is_null(False))
    rejected: dict[str, set[int]] = {}
    for st, seq in dl.tuples():
        rejected.setdefault(st, set()).add(seq)
    return found, rejected


def chain_rows(station: str | None) -> dict[tuple[str, str], list[tuple[int, str | None, str]]]:
    """(station, epoch) -> ``(seq, chain, content digest)`` of every scan the hub holds."""
    E = m.ScanEvent
    cols = [E.station, E.epoch, E.seq, E.chain] + [getattr(E, f) for f in CONTENT_FIELDS]
    q = E.select(*cols)
    if station:
        q = q.where(E.station == station)
    out: dict[tuple[str, str], list] = {}
    for r in q.tuples().iterator():
        row = dict(zip(CONTENT_FIELDS, r[4:]))
        out.setdefault((r[0], r[1]), []).append((r[2], r[3], content_digest(row)))
    dq = m.Deletion.select(m.Deletion.station, m.Deletion.epoch, m.Deletion.seq, m.Deletion.scan_json)
    if station:
        dq = dq.where(m.Deletion.station == station)
    for st, epoch, seq, raw in dq.tuples():
        entry = chain_check.tombstone_entry(raw)
        if entry is not None:
            out.setdefault((st, epoch), []).append((seq, *entry))
    return out


def _chained(station: str | None) -> set[tuple[str, str]]:
    E = m.ScanEvent
    q = E.select(E.station, E.epoch).where(E.chain.is_null(False)).group_by(E.station, E.epoch)
    if station:
        q = q.where(E.station == station)
    return set(q.tuples())


def gaps(station: str | None = None) -> list[dict]:
    """One entry per station and epoch: ``{"station", "epoch", "max_seq", "station_max_seq", "scans",
    "deleted", "deleted_unuploaded", "conflicts", "missing": [[lo, hi], …], "missing_count",
    "chained", "breaks": {kind: [[lo, hi], …]}, "altered": [[lo, hi], …], "altered_count",
    "unverified": [[lo, hi], …]}`` (the chain's verdicts as stored on ingest, ``chain_check``);
    ``station_max_seq`` is what the station last reported (null when it has not), ``conflicts``
    counts scans sent again under a committed id with other content (dead-lettered)."""
    found, rejected = _seqs_by_station(station)
    reported = {k: v for k, v in reported_seqs().items() if station is None or k[0] == station}
    for key in reported:
        found.setdefault(key, set())
    conflicts: dict[tuple[str, str], int] = {}
    dq = m.DeadLetter.select(m.DeadLetter.station, m.DeadLetter.payload).where(m.DeadLetter.reason.startswith("conflict:"))
    if station:
        dq = dq.where(m.DeadLetter.station == station)
    for st, payload in dq.tuples():
        try:
            epoch = json.loads(bytes(payload))["sent"].get("epoch") or ""
        except (ValueError, KeyError, TypeError, AttributeError):
            epoch = ""
        conflicts[(st, epoch)] = conflicts.get((st, epoch), 0) + 1
    dels: dict[tuple[str, str], list] = {}
    q = m.Deletion.select(m.Deletion.station, m.Deletion.epoch, m.Deletion.uploaded)
    if station:
        q = q.where(m.Deletion.station == station)
    for st, epoch, uploaded in q.tuples():
        dels.setdefault((st, epoch), []).append(uploaded)
    stored, chained = chain_check.verdicts(station), _chained(station)
    out = []
    for (st, epoch), seqs in sorted(found.items()):
        have = seqs | rejected.get(st, set())
        top = max(max(have, default=0), reported.get((st, epoch), 0))
        missing, run = [], None
        for n in range(1, top + 1):
            if n not in have:
                if run and run[1] == n - 1:
                    run[1] = n
                else:
                    run = [n, n]
                    missing.append(run)
        d = dels.get((st, epoch), [])
        out.append({"station": st, "epoch": epoch, "max_seq": top, "station_max_seq": reported.get((st, epoch)),
                    "scans": len(seqs) - len(d),
                    "deleted": len(d), "deleted_unuploaded": sum(1 for u in d if not u),
                    "conflicts": conflicts.get((st, epoch), 0),
                    "missing": missing, "missing_count": sum(hi - lo + 1 for lo, hi in missing)})
        v = stored.get((st, epoch), {})
        broken = [x for kind in chain_check.BREAKS for x in v.get(kind, [])]
        out[-1].update(chained=(st, epoch) in chained,
                       breaks={kind: seq_ranges(v[kind]) for kind in chain_check.BREAKS if v.get(kind)},
                       altered=seq_ranges(broken), altered_count=len(broken),
                       unverified=seq_ranges(v.get(chain_check.PENDING, [])))
    return out


def recheck(station: str | None = None, repair: bool = False) -> list[dict]:
    """Recompute the chain's verdicts from every scan the hub holds and compare with the stored
    ones (``chain_check.recheck``); with ``repair`` store the recomputed ones."""
    from contract.clock import now_ms
    return chain_check.recheck(chain_rows(station), station, repair=repair, found_ms=now_ms())
