"""AIM symbology identifiers (ISO/IEC 15424): ``]`` + code character + modifier character.

Scanners that are set to transmit the AIM identifier put it before the data (``]C0`` Code 128,
``]E0`` EAN-13/UPC-A, ``]Q1`` QR Code …).  :func:`split_aim` strips it and names the symbology.
"""
from __future__ import annotations

import re

# code character -> symbology name; the modifier refines a few of them below.
AIM_CODES = {
    "A": "code39", "C": "code128", "E": "ean13", "F": "codabar", "G": "code93",
    "H": "code11", "I": "itf", "L": "pdf417", "M": "msi", "Q": "qr", "S": "code2of5",
    "R": "code2of5", "X": "other", "d": "datamatrix", "e": "databar", "z": "aztec",
    "U": "maxicode", "K": "code16k", "O": "codablock",
}

# (code, modifier) -> name where the modifier changes the meaning.
AIM_MODIFIERS = {
    ("C", "1"): "gs1-128", ("E", "4"): "ean8", ("E", "1"): "ean13-addon2",
    ("E", "2"): "ean13-addon5", ("E", "3"): "ean13-addon", ("d", "2"): "gs1-datamatrix",
    ("Q", "3"): "gs1-qr",
}

_AIM_RE = re.compile(r"\][A-Za-z][0-9A-Za-z]")


def symbology_of(aim: str) -> str | None:
    """The symbology name of an AIM identifier such as ``]C0``; ``None`` if unknown."""
    if len(aim) != 3 or aim[0] != "]":
        return None
    return AIM_MODIFIERS.get((aim[1], aim[2])) or AIM_CODES.get(aim[1])


def split_aim(text: str) -> tuple[str | None, str]:
    """``("]C0", "rest")`` when ``text`` starts with a known AIM identifier, else ``(None, text)``."""
    if len(text) >= 3 and _AIM_RE.match(text) and text[1] in AIM_CODES:
        return text[:3], text[3:]
    return None, text


def aim_for(symbology: str | None) -> str:
    """The AIM identifier a simulator sends for our symbology name (``]X0`` when unknown)."""
    for (code, mod), name in AIM_MODIFIERS.items():
        if name == symbology:
            return f"]{code}{mod}"
    for code, name in AIM_CODES.items():
        if name == symbology:
            return f"]{code}0"
    return "]X0"
