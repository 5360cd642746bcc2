"""The station configuration slice the hub publishes (retained) and gun images carry.

Its format is documented in docs/protocol.md ("Configuration"); the hub builds it
(``hub.network.station_config``).  This module holds what both ends compute over it: the content
hash a station checks before using a slice, and the gun-user PIN hash a gun checks at login.
"""
from __future__ import annotations

import hashlib
import json
import secrets

from contract.protocol import VERSION

PIN_ITERATIONS = 20_000


def canonical(obj) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes a configuration hash is computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def config_hash(cfg: dict) -> str:
    """SHA-256 over a configuration's content: everything but ``station``, ``version``, ``hash``
    and ``data_version`` (so a site whose slice did not change keeps its version across imports)."""
    body = {k: v for k, v in cfg.items() if k not in ("station", "version", "hash", "data_version")}
    body["v"] = VERSION
    return hashlib.sha256(canonical(body)).hexdigest()


def verify_config(cfg: dict) -> bool:
    """True when ``cfg['hash']`` matches its content (an edge checks this before using it)."""
    return isinstance(cfg, dict) and cfg.get("hash") == config_hash(cfg)


def hash_pin(pin: str, salt: str | None = None) -> tuple[str, str]:
    """(salt, hash) for a gun user's PIN: PBKDF2-HMAC-SHA256, ``PIN_ITERATIONS`` rounds, hex."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), PIN_ITERATIONS)
    return salt, digest.hex()
