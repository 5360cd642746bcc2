"""Telephone numbers in one form (E.164, ``+8613800000000``), however they were written.

A clerk types ``138 0000 0000``, a caller id arrives as ``0086 13800000000``, a customer file
says ``0571-8888 1234 / 13800000000``: the hub stores, compares, rate-limits and opts out numbers
only in the form ``e164`` gives, so the same phone is the same key everywhere (SMS, the IVR's
caller directory, the CRM).  Parsing is libphonenumber's (the ``phonenumbers`` package); a
number written without a country code is read as Chinese (``DEFAULT_REGION``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from contract.errors import ContractError

DEFAULT_REGION = "CN"
MAX_LEN = 40            # longer text is no phone number (and is not handed to the parser)
#: What separates several numbers in one field: / , ; 、 (and their full-width forms) and "or".
SEPARATORS = re.compile(r"[/,;，；、]|\bor\b")


#: A Chinese mobile number written plainly (with or without +86): e164's fast path, checked equal
#: to libphonenumber's answer in tests/test_contract_phone.py.
_CN_MOBILE = re.compile(r"(?:\+86)?1[3-9][0-9]{9}")


class PhoneError(ContractError):
    """Text that is not a possible telephone number; the message says which."""


def e164(text: str, region: str = DEFAULT_REGION) -> str:
    """``text`` as an E.164 number (``+`` and digits); ``PhoneError`` when it is not a possible
    number.  Idempotent: ``e164(e164(x)) == e164(x)``."""
    raw = str(text or "").strip()
    if not raw or len(raw) > MAX_LEN:
        raise PhoneError(f"not a phone number: {text!r}")
    if region == "CN" and _CN_MOBILE.fullmatch(raw):     # most numbers: what the parser gives, without it
        return "+86" + raw[-11:]
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


#: How an extension is written after a number: 转 801, 分机 801, ext 801, x801, #801, ",801".
_EXTENSION = re.compile(r"\s*(?:转|分机|ext\.?|x|#|,)\s*(\d{1,6})\s*$", re.IGNORECASE)
_KINDS = {phonenumbers.PhoneNumberType.MOBILE: "mobile", phonenumbers.PhoneNumberType.FIXED_LINE: "fixed",
          phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed", phonenumbers.PhoneNumberType.TOLL_FREE: "toll-free",
          phonenumbers.PhoneNumberType.VOIP: "voip", phonenumbers.PhoneNumberType.SHARED_COST: "shared-cost",
          phonenumbers.PhoneNumberType.UAN: "service"}


@dataclass(frozen=True)
class Phone:
    """One telephone number as written in a record: ``e164`` (the key), ``kind`` (mobile, fixed,
    toll-free, voip, service or other), the ``extension`` ("" for none) and the ``national`` form
    for people (``0571 8888 1234``)."""
    e164: str
    kind: str
    extension: str
    national: str


def parse(text: str, region: str = DEFAULT_REGION, area_code: str = "") -> Phone:
    """A number as written, with its kind and extension (``转801``, ``ext 801``, ``#801``).

    A fixed-line number written without its area code (``8888 1234``) is read in ``area_code``
    (``0571``) when one is given; without one it is refused, never guessed.  ``PhoneError`` for
    text that is no valid number."""
    raw = str(text or "").strip()
    ext = ""
    m = _EXTENSION.search(raw)
    if m and len(raw) <= MAX_LEN:
        ext, raw = m.group(1), raw[:m.start()]
    e164(raw, region)                               # the same refusals as everywhere
    number = phonenumbers.parse(raw, region)
    if number.extension:
        ext = ext or number.extension
        number.extension = None
    if not phonenumbers.is_valid_number(number):
        digits = re.sub(r"\D", "", raw)
        if area_code and region == "CN" and 7 <= len(digits) <= 8 and not raw.lstrip().startswith(("+", "0")):
            return parse(f"{area_code}{digits}" + (f" ext {ext}" if ext else ""), region)
        if region == "CN" and 7 <= len(digits) <= 8:
            raise PhoneError(f"{text!r} is a local number: write it with its area code (0571 8888 1234)")
        raise PhoneError(f"not a valid phone number: {text!r}")
    kind = _KINDS.get(phonenumbers.number_type(number), "other")
    return Phone(e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), kind=kind,
                 extension=ext, national=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))


def written_forms(number: str) -> list[str]:
    """The forms a switch or a clerk may have stored ``number`` (E.164) in: E.164, the national
    digits with and without the trunk 0, and with 0086 / 86 in front — for matching columns that
    keep numbers as they arrived (call records)."""
    n = phonenumbers.parse(number, None)
    nsn = phonenumbers.national_significant_number(n)
    cc = str(n.country_code)
    national = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.NATIONAL)
    trunk = re.sub(r"\D", "", national)
    return list(dict.fromkeys([number, nsn, trunk, f"00{cc}{nsn}", f"{cc}{nsn}", f"+{cc}{nsn}"]))
