"""Telephone numbers in one form (E.164, ``+8613800000000``), however they were written.

A clerk types ``138 0000 0000``, a caller id arrives as ``0086 13800000000``, a customer file
says ``0571-8888 1234 / 13800000000``: the hub stores, compares, rate-limits and opts out numbers
only in the form ``e164`` gives, so the same phone is the same key everywhere (SMS, the IVR's
caller directory, the CRM).  Parsing is libphonenumber's (the ``phonenumbers`` package); a
number written without a country code is read as Chinese (``DEFAULT_REGION``).
"""
from __future__ import annotations

import re

import phonenumbers

from contract.errors import ContractError

DEFAULT_REGION = "CN"
MAX_LEN = 40            # longer text is no phone number (and is not handed to the parser)
#: What separates several numbers in one field: / , ; 、 (and their full-width forms) and "or".
SEPARATORS = re.compile(r"[/,;，；、]|\bor\b")


class PhoneError(ContractError):
    """Text that is not a possible telephone number; the message says which."""


def e164(text: str, region: str = DEFAULT_REGION) -> str:
    """``text`` as an E.164 number (``+`` and digits); ``PhoneError`` when it is not a possible
    number.  Idempotent: ``e164(e164(x)) == e164(x)``."""
    raw = str(text or "").strip()
    if not raw or len(raw) > MAX_LEN:
        raise PhoneError(f"not a phone number: {text!r}")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise PhoneError(f"not a phone number: {text!r}") from None
    if not phonenumbers.is_possible_number(number):
        raise PhoneError(f"not a phone number: {text!r} (too short or too long)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def numbers_in(text: str, region: str = DEFAULT_REGION) -> list[str]:
    """Every possible number in a field, in E.164, in the order written and each once; what is
    no number is left out."""
    out = []
    for part in SEPARATORS.split(str(text or "")):
        try:
            n = e164(part, region)
        except PhoneError:
            continue
        if n not in out:
            out.append(n)
    return out
