"""Encode a wireless gun's stored records as an SHB1 batch upload (the bytes its cradle sends).

The format is defined and documented in :mod:`drivers.scanner.batch` and ``docs/scanners.md``::

    >>> encode_batch("G1", [{"gun": "G1", "seq": 1, "kind": "receive", "waybill": "YT1234567890123",
    ...                      "scanned_ms": 1717200000000, "operator": "1001", "site": "100"}],
    ...              image_version="3-9c1d").decode().splitlines()[0]
    '~SHB1 H gun=G1 n=1 img=9c1d4e7a0b3f6a21~'
"""
from __future__ import annotations

from drivers.scanner.batch import END, GUN_RE, IMAGE_RE, MARKER, MAX_RECORDS, crc_of, encode_record
from drivers.scanner.errors import BatchRecordError


def batch_lines(gun_id: str, records: list[dict], image_version: str = "") -> list[str]:
    """The lines of an upload, without terminators (H, R…, T)."""
    if not isinstance(gun_id, str) or not GUN_RE.fullmatch(gun_id):
        raise BatchRecordError(f"gun id {gun_id!r} is not 1-32 of A-Z a-z 0-9 . _ -")
    if not isinstance(image_version, str) or not IMAGE_RE.fullmatch(image_version):
        raise BatchRecordError(f"image version {image_version!r} is not 0-64 of A-Z a-z 0-9 . _ + : -")
    records = list(records)
    if len(records) > MAX_RECORDS:
        raise BatchRecordError(f"{len(records)} records: one upload holds at most {MAX_RECORDS}")
    lines = [f"{MARKER}H gun={gun_id} n={len(records)} img={image_version}{END}"]
    for i, rec in enumerate(records):
        try:
            body = encode_record(rec)
        except BatchRecordError as e:
            raise BatchRecordError(f"record {i}: {e}") from e
        if rec["gun"] != gun_id:
            raise BatchRecordError(f"record {i} belongs to gun {rec['gun']}, not {gun_id}")
        lines.append(f"{MARKER}R {body}{END}")
    lines.append(f"{MARKER}T n={len(records)} crc32={crc_of(lines):08x}{END}")
    return lines


def encode_batch(gun_id: str, records: list[dict], image_version: str = "") -> bytes:
    """The bytes of one upload of ``records`` from gun ``gun_id`` (lines end with CR LF).

    Pure; raises :class:`~drivers.scanner.errors.BatchRecordError` for a record that breaks the
    record contract (see :data:`drivers.scanner.batch.RECORD_KEYS`) or belongs to another gun.
    """
    return "".join(line + "\r\n" for line in batch_lines(gun_id, records, image_version)).encode("ascii")
