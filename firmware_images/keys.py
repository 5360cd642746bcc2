"""The hub's Ed25519 image-signing key pair, kept in a key directory.

Files in the directory (default ``~/.config/scanhub/keys``, or ``$SCANHUB_KEYS``):

``gun-image.key``  the private key, PKCS#8 PEM, mode 0600: never leaves the hub.
``gun-image.pub``  the public key as 64 hex digits (the raw 32-byte Ed25519 key): this is what
                   a gun is provisioned with, and what ``scanhub gun keys show`` prints.

The key id written into every image header is the first 8 bytes of SHA-256 of the raw public key,
so a gun provisioned with another key can say so instead of only "bad signature".
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware_images.errors import KeyStoreError

PRIVATE_FILE = "gun-image.key"
PUBLIC_FILE = "gun-image.pub"
SIGNATURE_LEN = 64
PUBLIC_KEY_LEN = 32


def default_key_dir() -> Path:
    return Path(os.environ.get("SCANHUB_KEYS") or Path.home() / ".config" / "scanhub" / "keys")


def key_id(public_raw: bytes) -> bytes:
    """8-byte id of a raw public key."""
    return hashlib.sha256(public_raw).digest()[:8]


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_hex(text: str) -> Ed25519PublicKey:
    """A public key from its 64 hex digits (raises ``KeyStoreError``)."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyStoreError("public key must be 64 hex digits") from None
    if len(raw) != PUBLIC_KEY_LEN:
        raise KeyStoreError(f"public key must be {PUBLIC_KEY_LEN} bytes (64 hex digits), got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def init_keys(directory: Path | str, force: bool = False) -> Ed25519PrivateKey:
    """Create a new key pair in ``directory`` (refuses to overwrite one unless ``force``)."""
    d = Path(directory)
    priv_path = d / PRIVATE_FILE
    if priv_path.exists() and not force:
        raise KeyStoreError(f"{priv_path} already exists (guns provisioned with its public key would "
                            "refuse images signed by a new one; use --force to replace it anyway)")
    d.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = d / (PRIVATE_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, priv_path)
    (d / PUBLIC_FILE).write_text(public_raw(key).hex() + "\n")
    return key


def load_private(directory: Path | str) -> Ed25519PrivateKey:
    path = Path(directory) / PRIVATE_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(f"no signing key at {path}: run `scanhub gun keys init`") from None
    except OSError as e:
        raise KeyStoreError(f"cannot read {path}: {e.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise KeyStoreError(f"{path} is not a PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public(directory: Path | str) -> Ed25519PublicKey:
    """The public key of ``directory`` (from the .pub file, else derived from the private key)."""
    path = Path(directory) / PUBLIC_FILE
    if path.exists():
        return public_from_hex(path.read_text())
    return load_private(directory).public_key()


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
        return True
    except InvalidSignature:
        return False
