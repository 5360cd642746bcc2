"""Telephone numbers in one form (contract.phone): the key SMS, the IVR's caller directory and
the CRM store and compare numbers by."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from contract.phone import PhoneError, e164, numbers_in


@pytest.mark.parametrize("written", ["13800000000", "138 0000 0000", "+86 138-0000-0000", "0086 13800000000",
                                     "(+86) 138.0000.0000", "+8613800000000"])
def test_the_ways_a_mobile_number_is_written_are_one_number(written):
    assert e164(written) == "+8613800000000"


def test_fixed_lines_foreign_numbers_and_several_in_one_field():
    assert e164("0571-8888 1234") == e164("+86 571 8888 1234") == "+8657188881234"
    assert e164("+1 650 253 0000") == "+16502530000"
    assert numbers_in("0571-8888 1234 / 138 0000 0000；13800000000 or 139 0000 1111") == \
        ["+8657188881234", "+8613800000000", "+8613900001111"]


@pytest.mark.parametrize("junk", ["", "  ", "12", "abc", "电话", "1" * 41, None])
def test_what_is_no_number_is_refused_in_one_line(junk):
    with pytest.raises(PhoneError, match="not a phone number"):
        e164(junk)


@given(st.text(max_size=50))
def test_any_text_is_a_number_in_one_form_or_a_clear_refusal(text):
    try:
        n = e164(text)
    except PhoneError as e:
        assert "\n" not in str(e)
        return
    assert n.startswith("+") and n[1:].isascii() and n[1:].isdigit() and e164(n) == n


@given(st.from_regex(r"(\+86)?1[0-9]{10}", fullmatch=True))
def test_the_fast_path_for_plain_mobile_numbers_says_what_libphonenumber_says(text):
    import phonenumbers
    n = phonenumbers.parse(text, "CN")
    if not phonenumbers.is_possible_number(n):
        with pytest.raises(PhoneError):
            e164(text)
    else:
        assert e164(text) == phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


def test_the_fast_path_takes_only_plain_mobile_numbers():
    assert e164("1" + "0" * 10) == "+8610000000000"
    assert e164("+86 138 0000 0000") == e164("138-0000-0000") == "+8613800000000"
    with pytest.raises(PhoneError):
        e164("1" + "0" * 12)
