"""The scan journal's hash chain: each scan a station makes carries the hash of its predecessor
in its outbox epoch, so an edited, removed, reordered or replayed scan shows (docs/protocol.md,
"The scan chain").

``link(prev, epoch, seq, digest)`` is the ``chain`` field of the scan at ``seq``::

    chain = SHA-256( prev "\\n" epoch "\\n" seq "\\n" digest )   as 64 lowercase hex digits

where ``digest`` is ``content_digest`` of the scan (what it *is*: ``contract.scan.CONTENT_FIELDS``
of its ``validate_scan`` row, as canonical JSON) and ``prev`` the ``chain`` of the scan at
``seq - 1`` of the same epoch, or ``""`` for the first scan of an epoch and after a scan without a
chain (a station on older software, or scans a salvage moved into a new epoch).

``verify(epoch, scans)`` checks one station epoch as the hub holds it.  Pure: the same scans in
any order give the same answer.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from contract.protocol import seq_ranges
from contract.scan import CONTENT_FIELDS

GENESIS = ""


#: ``json.dumps(…, separators=(",", ":"), ensure_ascii=False)``, built once (``dumps`` with options
#: builds an encoder per call, a third of a digest's cost on the hub's ingest path)
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def content_digest(row: Mapping) -> str:
    """SHA-256 (hex) of a scan's content: ``CONTENT_FIELDS`` of its ``validate_scan`` row."""
    return values_digest([row.get(f) for f in CONTENT_FIELDS])


def values_digest(values: list) -> str:
    """``content_digest`` of a scan whose ``CONTENT_FIELDS`` values are ``values``, in that order
    (a stored row read column by column)."""
    return hashlib.sha256(_CANONICAL.encode(values).encode()).hexdigest()


def link(prev: str | None, epoch: str, seq: int, digest: str) -> str:
    return hashlib.sha256(f"{prev or GENESIS}\n{epoch}\n{seq}\n{digest}".encode()).hexdigest()


def verify(epoch: str, scans: Iterable[tuple[int, str | None, str]]) -> dict:
    """Check the chain of one epoch from ``(seq, chain, digest)`` of every scan the hub holds
    (committed ones and the deleted ones it has tombstones of).

    Returns ``{"chained": bool, "first_chained": seq or None, "verified": n, "altered": [[lo, hi], …],
    "unverified": [[lo, hi], …]}``: ``altered`` are the seqs whose chain does not follow from their
    predecessor (the scan itself was changed, or the one before it was changed, replaced, removed
    and renumbered, or swapped with it), and those without a chain after the first scan with one
    (a chain does not stop: a stripped field is an alteration); ``unverified`` are chained seqs
    whose predecessor the hub does not hold (yet: see the missing ranges of ``hub gaps``).  An
    epoch without any chain (older software) is ``chained: false`` with nothing altered."""
    by_seq: dict[int, tuple[str | None, str]] = {}
    altered = set()
    for seq, chain, digest in scans:
        if seq in by_seq and by_seq[seq] != (chain, digest):
            altered.add(seq)              # two different scans under one seq: a replay
        by_seq.setdefault(seq, (chain, digest))
    chained = sorted(s for s, (c, _) in by_seq.items() if c)
    if not chained:
        return {"chained": False, "first_chained": None, "verified": 0, "altered": seq_ranges(altered),
                "unverified": []}
    first = chained[0]
    unverified, verified = set(), 0
    for seq, (chain, digest) in by_seq.items():
        if seq < first:
            continue
        if not chain:
            altered.add(seq)
            continue
        if seq == 1:
            prev = GENESIS
        elif seq - 1 in by_seq:
            prev = by_seq[seq - 1][0] or GENESIS
        else:
            unverified.add(seq)
            continue
        if link(prev, epoch, seq, digest) == chain:
            verified += 1
        else:
            altered.add(seq)
    return {"chained": True, "first_chained": first, "verified": verified, "altered": seq_ranges(altered),
            "unverified": seq_ranges(unverified)}
