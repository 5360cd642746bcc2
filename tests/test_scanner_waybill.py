"""Waybill rules as data: published check-digit vectors for the schemes in drivers/scanner/waybill.py."""
import pytest

from contract.errors import RuleError
from contract.waybill import WaybillRules, check_character


@pytest.mark.parametrize("scheme, body, check", [
    ("mod10-31", "690123456789", "2"),        # EAN-13 6901234567892 (GS1 check digit)
    ("mod10-31", "400638133393", "1"),        # EAN-13 4006381333931
    ("luhn", "7992739871", "3"),              # the classic Luhn example 79927398713
    ("mod43", "CODE39", "W"),                 # Code 39 mod 43: CODE39W
    ("mod11-s10", "RR47312482", "9"),         # UPU S10 serial 47312482 -> 9
])
def test_published_check_characters(scheme, body, check):
    assert check_character(scheme, body) == check


def test_rules_refuse_with_a_reason_and_accept_valid_numbers():
    rules = WaybillRules([{"name": "zt14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"},
                          {"name": "yt", "prefixes": ["YT"], "lengths": [15]}])
    assert rules.validate(rules.make("zt14", "7" + "1234567890123"[:12])) is None
    assert rules.validate("YT1234567890123") is None
    why = rules.validate("YT123")
    assert "length 5" in why and "zt14" in why
    assert "control" in rules.validate("YT12345678901\x1d3")


def test_bad_rules_are_clear_errors():
    with pytest.raises(RuleError, match="unknown check scheme"):
        WaybillRules([{"name": "x", "lengths": [10], "check": "mod97"}])
    with pytest.raises(RuleError, match="bad pattern"):
        WaybillRules([{"name": "x", "pattern": "(", "check": "none"}])


def test_full_s10_identifier_validates():
    rules = WaybillRules([{"name": "s10", "pattern": "^[A-Z]{2}[0-9]{9}[A-Z]{2}$", "check": "mod11-s10"}])
    assert rules.validate("RR473124829GB") is None
    assert "check digit '8' wrong" in rules.validate("RR473124828GB")
    assert rules.make("s10", "RR47312482GB") == "RR473124829GB"
