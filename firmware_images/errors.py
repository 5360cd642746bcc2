"""Errors of the gun image tools, one class per kind of trouble.

Every rejection of an image carries a short machine-readable ``reason`` code (``bad-magic``,
``unknown-version``, ``truncated``, ``checksum``, ``signature``, ``malformed``) and a message that
says where the problem is, so a technician (and a gun's display) can tell *why* it was refused.
"""
from __future__ import annotations


class GunImageError(Exception):
    """Base class of every error in ``firmware_images``."""


class ImageBuildError(GunImageError, ValueError):
    """The configuration data cannot be put into an image (unknown reference, bad field, too long)."""


class ImageFormatError(GunImageError, ValueError):
    """An image is malformed; ``reason`` is one of the codes below."""

    reason = "malformed"


class BadMagic(ImageFormatError):
    """The bytes do not start with the gun image magic: not an image at all."""

    reason = "bad-magic"


class UnknownVersion(ImageFormatError):
    """The image uses a format version this reader does not know."""

    reason = "unknown-version"


class TruncatedImage(ImageFormatError):
    """The image ends before its header, a section or its trailer does."""

    reason = "truncated"


class ChecksumMismatch(ImageFormatError):
    """A header, section or whole-image checksum does not match the bytes."""

    reason = "checksum"


class SignatureInvalid(ImageFormatError):
    """The image's signature does not verify with the given public key."""

    reason = "signature"


class MalformedImage(ImageFormatError):
    """Checksums match but the content breaks the format (bad lengths, unknown section …)."""

    reason = "malformed"


class KeyStoreError(GunImageError):
    """The signing key directory is missing, unreadable or holds a bad key."""


class LinkError(GunImageError):
    """The flashing link failed: no answer, too many retries, the gun reported an error."""


class LinkLost(LinkError):
    """The serial line itself went away (cradle unplugged, gun switched off): the port failed,
    not the protocol.  ``detail`` keeps what the serial layer said."""

    def __init__(self, doing: str, detail: str = ""):
        self.doing, self.detail = doing, detail
        super().__init__(f"the gun's serial line went away while {doing}")


class GunRefused(LinkError):
    """The gun answered but refused the request; ``code`` is its reason code."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(f"gun refused ({code}): {message}")
