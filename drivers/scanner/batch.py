"""Wireless guns with cradles: the batch upload format ``SHB1`` and its decoder.

A wireless gun stores its scans and uploads them through its cradle's serial line.  Live reads
(the gun scanning while it is in range) go over the same line as plain text lines, exactly like a
``serial`` gun, and may come between the lines of an upload.

Upload format (ASCII lines; each ends with LF, CR LF or CR)::

    ~SHB1 H gun=<gun id> n=<record count> img=<image version>~
    ~SHB1 R <record as JSON>~          (n times)
    ~SHB1 T n=<record count> crc32=<8 lowercase hex digits>~

Every protocol line starts with ``~SHB1 `` and ends with ``~``; a live read never contains ``~``.
So a line damaged on the wire (a byte lost, changed, or turned into a line break) is recognised
as damage, never taken for a live read: any line with a ``~`` that is not a whole protocol line
aborts the upload in progress.

``gun id``       1-32 characters ``A-Z a-z 0-9 . _ -``, starting with a letter or digit.
``image version`` 0-64 characters ``A-Z a-z 0-9 . _ + : -`` (the gun's configuration image; may
                 be empty: ``img=``).
``n``            0-100000.
record JSON      one object, no newline inside (``ensure_ascii``, sorted keys, no spaces: what
                 :func:`encode_record` produces; the decoder accepts any valid JSON object).
``crc32``        CRC-32 (zlib / IEEE 802.3, as ``zlib.crc32``) over the H line and every R line,
                 each taken without its line terminator (but with its closing ``~``) and followed by one LF byte (``\\n``), in order.

An upload is accepted only as a whole: the trailer must follow, its ``n`` must equal the header's
and the number of R lines, and the CRC must match.  A truncated upload (a new H line, or a T line
that does not match) is rejected and counted; the gun sends it again (persistent batch).  A record
is a dict (see :data:`RECORD_KEYS`); a record of an accepted upload that breaks the contract is
refused alone with its reason, the others are delivered.

Records are de-duplicated by ``(gun, seq)``: re-sent uploads deliver nothing new.  Each record
becomes a :class:`~drivers.scanner.read.Read` with ``text`` = the waybill, ``time_ms`` = the
record's own ``scanned_ms`` and ``record`` = the dict.

Receipts (host -> cradle, optional; a cradle may ignore them)::

    ~SHB1 ACK gun=<gun id> n=<count> crc32=<crc>~     upload accepted (duplicates included)
    ~SHB1 NAK gun=<gun id> reason=<one line>~         upload rejected: send again
"""
from __future__ import annotations

import json
import re
import zlib
from collections import OrderedDict

from drivers.scanner.aim import split_aim, symbology_of
from drivers.scanner.base import ScannerDecoder
from drivers.scanner.errors import BatchFormatError, BatchRecordError, ScannerOptionError
from drivers.scanner.read import Read
from drivers.scanner.serial_gun import text_problem

MARKER = "~SHB1 "
MARKER_BYTES = MARKER.encode()
END = "~"
END_BYTE = END.encode()
MAX_RECORDS = 100_000
MAX_LINE = 4096                      # bytes, any line on the cradle's serial line
GUN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
IMAGE_RE = re.compile(r"[A-Za-z0-9._+:-]{0,64}")

# the kinds a gun record may carry: the contract's (contract.scan.KINDS); drivers import nothing of ours,
# so tests/test_contract_agreement.py pins the two lists equal
KINDS = ("receive", "dispatch", "arrive", "deliver", "sign", "problem", "hold",
         "bag_build", "bag_open", "load", "unload")
#: key -> (required, type); ``str`` values are non-empty, printable, at most 64 characters
RECORD_KEYS = {
    "gun": (True, str), "seq": (True, int), "kind": (True, str), "waybill": (True, str),
    "scanned_ms": (True, int), "operator": (True, str), "site": (True, str),
    "shift": (False, str), "dest": (False, str), "next_site": (False, str),
    "prev_site": (False, str), "weight_g": (False, int), "courier": (False, str),
    "signer": (False, str), "sign_type": (False, str), "reason": (False, str), "bag": (False, str),
    "seal": (False, str),
}
MIN_SCANNED_MS = 946_684_800_000     # 2000-01-01T00:00:00Z
MAX_SCANNED_MS = 4_102_444_800_000   # 2100-01-01T00:00:00Z
MAX_WEIGHT_G = 10_000_000            # 10 t: anything above is a corrupt value, not a parcel


def record_problem(rec) -> str | None:
    """Why ``rec`` breaks the record contract; ``None`` when it is a valid record."""
    if not isinstance(rec, dict):
        return f"record must be an object, not {type(rec).__name__}"
    unknown = set(rec) - set(RECORD_KEYS)
    if unknown:
        return f"unknown record keys {sorted(unknown)}"
    for key, (required, typ) in RECORD_KEYS.items():
        value = rec.get(key)
        if value is None:
            if required:
                return f"record lacks {key}"
            continue
        if typ is int:
            if not isinstance(value, int) or isinstance(value, bool):
                return f"{key} must be an integer, not {value!r}"
        elif not isinstance(value, str) or not value or len(value) > 64 or not value.isprintable():
            return f"{key} must be a printable string of 1-64 characters, not {value!r}"
    if rec["seq"] < 0:
        return f"seq must be >= 0, not {rec['seq']}"
    if rec["kind"] not in KINDS:
        return f"kind {rec['kind']!r} is not one of {', '.join(KINDS)}"
    if not MIN_SCANNED_MS <= rec["scanned_ms"] < MAX_SCANNED_MS:
        return f"scanned_ms {rec['scanned_ms']} is not an epoch-ms time in 2000-2099"
    weight = rec.get("weight_g")
    if weight is not None and not 0 <= weight <= MAX_WEIGHT_G:
        return f"weight_g {weight} out of range 0-{MAX_WEIGHT_G}"
    if not GUN_RE.fullmatch(rec["gun"]):
        return f"gun id {rec['gun']!r} is not 1-32 of A-Z a-z 0-9 . _ -"
    return None


def encode_record(rec: dict) -> str:
    """The canonical JSON of a record (``None`` values dropped); raises :class:`BatchRecordError`."""
    rec = {k: v for k, v in rec.items() if v is not None} if isinstance(rec, dict) else rec
    problem = record_problem(rec)
    if problem:
        raise BatchRecordError(problem)
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def crc_of(lines: list[str]) -> int:
    """The upload CRC-32 over ``lines`` (H and R lines, without terminators)."""
    crc = 0
    for line in lines:
        crc = zlib.crc32(line.encode("ascii") + b"\n", crc)
    return crc


def _fields(text: str, want: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for part in text.split(" "):
        key, eq, value = part.partition("=")
        if not eq:
            raise BatchFormatError(f"field {part!r} is not key=value")
        out[key] = value
    missing = [k for k in want if k not in out]
    if missing:
        raise BatchFormatError(f"missing field(s) {', '.join(missing)}")
    return out


def _count(text: str) -> int:
    if not text.isdigit() or len(text) > 6 or int(text) > MAX_RECORDS:
        raise BatchFormatError(f"record count {text!r} is not 0-{MAX_RECORDS}")
    return int(text)


class _Upload:
    """An upload in progress: its header and the lines seen so far."""

    def __init__(self, header_line: str, gun: str, count: int, image: str):
        self.lines = [header_line]
        self.gun, self.count, self.image = gun, count, image
        self.records: list[str] = []


class BatchDecoder(ScannerDecoder):
    """Decoder for a wireless gun cradle: SHB1 uploads plus live reads on one serial line.

    Options: ``receipts`` (default True: queue ACK/NAK lines for the cradle),
    ``dedup_capacity`` (default 200000 ``(gun, seq)`` keys remembered; the oldest are forgotten
    first — the edge's outbox de-duplicates for good), ``encoding`` of live reads (``utf-8``).

    Extra ``stats``: ``uploads`` accepted, ``uploads_rejected``, ``records`` delivered,
    ``duplicates`` skipped, ``conflicts`` (same ``(gun, seq)`` with different content: the first
    one is kept), ``bad_records``, ``live_reads``.
    """

    name = "batch"
    summary = "wireless gun cradles: SHB1 batch uploads plus live reads"
    transport = "serial"
    serial_settings = {"baudrate": 115200, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, device_id: str = "cradle", *, receipts: bool = True,
                 dedup_capacity: int = 200_000, encoding: str = "utf-8", clock=None):
        super().__init__(device_id, clock=clock)
        if not isinstance(dedup_capacity, int) or dedup_capacity < 1:
            raise ScannerOptionError("dedup_capacity must be a positive int")
        self.receipts = bool(receipts)
        self.dedup_capacity = dedup_capacity
        self.encoding = encoding
        self.stats.update(uploads=0, uploads_rejected=0, records=0, duplicates=0, conflicts=0,
                          bad_records=0, live_reads=0)
        self._buf = bytearray()
        self._upload: _Upload | None = None
        self._seen: OrderedDict[tuple[str, int], str] = OrderedDict()

    def reset(self) -> None:
        self._buf.clear()
        if self._upload is not None:
            self._reject(self._upload.gun, "upload cut off by a reconnect")
        self._upload = None

    def status(self) -> dict:
        out = super().status()
        out["upload_in_progress"] = None if self._upload is None else {
            "gun": self._upload.gun, "expected": self._upload.count,
            "received": len(self._upload.records)}
        return out

    # -- line handling ------------------------------------------------------------------------
    def _feed(self, data: bytes) -> list[Read]:
        self._buf += data
        reads: list[Read] = []
        while True:
            ends = [i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0]
            if not ends:
                break
            i = min(ends)
            line = bytes(self._buf[:i])
            del self._buf[:i + 1]
            if line:
                reads.extend(self._line(line))
        if len(self._buf) > MAX_LINE:
            self._bad("line longer than 4096 bytes", len(self._buf))
            self._buf.clear()
        return reads

    def _line(self, line: bytes) -> list[Read]:
        if END_BYTE not in line:
            return self._live(line)
        at = line.find(MARKER_BYTES)
        if at < 0 or not line.endswith(END_BYTE):
            self._batch_error("damaged batch line (a '~' line that is not a whole protocol line)")
            return []
        if at:
            # Bytes glued in front of a batch line are a broken fragment, never a read.
            self._bad("garbage before a batch line", at)
        try:
            full = line[at:].decode("ascii")
        except UnicodeDecodeError:
            self._batch_error("non-ASCII byte in a batch line")
            return []
        tag, _, rest = full[len(MARKER):-len(END)].partition(" ")
        try:
            if tag == "H":
                self._header(full, rest)
            elif tag == "R":
                self._record_line(full, rest)
            elif tag == "T":
                return self._trailer(rest)
            elif tag in ("ACK", "NAK"):
                pass                     # our own receipts echoed back: not data
            else:
                raise BatchFormatError(f"unknown batch line type {tag!r}")
        except BatchFormatError as e:
            self._batch_error(str(e))
        return []

    def _live(self, line: bytes) -> list[Read]:
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError:
            self._bad(f"live read is not valid {self.encoding}", len(line))
            return []
        aim, text = split_aim(text)
        problem = text_problem(text)
        if problem:
            self._bad(problem, len(line))
            return []
        self.stats["live_reads"] += 1
        return [self._read(text, symbology_of(aim) if aim else None, aim)]

    def _header(self, line: str, rest: str) -> None:
        if self._upload is not None:
            self._reject(self._upload.gun, "upload truncated: a new header came before its trailer")
            self._upload = None
        f = _fields(rest, ("gun", "n", "img"))
        if not GUN_RE.fullmatch(f["gun"]):
            raise BatchFormatError(f"bad gun id {f['gun']!r}")
        if not IMAGE_RE.fullmatch(f["img"]):
            raise BatchFormatError(f"bad image version {f['img']!r}")
        self._upload = _Upload(line, f["gun"], _count(f["n"]), f["img"])

    def _record_line(self, line: str, rest: str) -> None:
        up = self._upload
        if up is None:
            raise BatchFormatError("record line outside an upload")
        if len(up.records) >= up.count:
            self._upload = None
            self._reject(up.gun, f"more records than the header's n={up.count}")
            return
        up.lines.append(line)
        up.records.append(rest)

    def _trailer(self, rest: str) -> list[Read]:
        up, self._upload = self._upload, None
        if up is None:
            raise BatchFormatError("trailer without an upload")
        f = _fields(rest, ("n", "crc32"))
        n = _count(f["n"])
        if n != up.count or len(up.records) != up.count:
            self._reject(up.gun, f"upload truncated: header n={up.count}, trailer n={n}, "
                                 f"{len(up.records)} records received")
            return []
        if not re.fullmatch(r"[0-9a-f]{8}", f["crc32"]):
            self._reject(up.gun, f"crc32 {f['crc32']!r} is not 8 lowercase hex digits")
            return []
        crc = crc_of(up.lines)
        if int(f["crc32"], 16) != crc:
            self._reject(up.gun, f"crc32 mismatch: trailer {f['crc32']}, computed {crc:08x}")
            return []
        self.stats["uploads"] += 1
        if self.receipts:
            self._replies.append(f"{MARKER}ACK gun={up.gun} n={n} crc32={crc:08x}{END}\r\n".encode())
        return self._deliver(up)

    def _deliver(self, up: _Upload) -> list[Read]:
        reads = []
        for raw in up.records:
            try:
                rec = json.loads(raw)
            except ValueError as e:
                self._record_bad(f"record is not JSON: {e}")
                continue
            problem = record_problem(rec)
            if problem is None and rec["gun"] != up.gun:
                problem = f"record of gun {rec['gun']} inside an upload of gun {up.gun}"
            if problem:
                self._record_bad(problem)
                continue
            key = (rec["gun"], rec["seq"])
            canon = json.dumps(rec, sort_keys=True, separators=(",", ":"))
            known = self._seen.get(key)
            if known is not None:
                if known == canon:
                    self.stats["duplicates"] += 1
                else:
                    self.stats["conflicts"] += 1
                    self.last_error = f"gun {key[0]} seq {key[1]} re-sent with different content"
                continue
            self._seen[key] = canon
            if len(self._seen) > self.dedup_capacity:
                self._seen.popitem(last=False)
            self.stats["records"] += 1
            reads.append(self._read(rec["waybill"], time_ms=rec["scanned_ms"], record=rec))
        return reads

    # -- errors -------------------------------------------------------------------------------
    def _record_bad(self, reason: str) -> None:
        self.stats["bad_records"] += 1
        self.last_error = reason

    def _reject(self, gun: str, reason: str) -> None:
        self.stats["uploads_rejected"] += 1
        self._bad(reason)
        if self.receipts:
            reason = reason.replace(END, "-")
            self._replies.append(f"{MARKER}NAK gun={gun} reason={reason}{END}\r\n".encode())

    def _batch_error(self, reason: str) -> None:
        up, self._upload = self._upload, None
        if up is not None:
            self._reject(up.gun, reason)
        else:
            self._bad(reason)
