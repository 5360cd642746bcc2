"""Properties of the CRM: every written form of a number finds the same customer; any text is a
clear refusal or a number; a CSV export imports into an empty store as the same customers."""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from contract.phone import PhoneError, parse
from conftest import sample_store
from hub.crm import customers as cu
from hub.crm import transfer
from hub.crm.lookup import lookup

AREAS = ("010", "021", "0571", "0755", "0574", "020")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def numbers(draw):
    """(E.164, a random written form of it)."""
    if draw(st.booleans()):
        digits = "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
        national, nsn = digits, digits
    else:
        area = draw(st.sampled_from(AREAS))
        local = draw(st.sampled_from("2345678")) + draw(st.text("0123456789", min_size=7, max_size=7))
        national, nsn = area + local, area[1:] + local
    prefix = draw(st.sampled_from(["", "+86", "0086", "+86 ", "0086 ", "+86-", "(+86) "]))
    body = national if not prefix else nsn
    sep = draw(st.sampled_from(["", " ", "-"]))
    cut = draw(st.integers(1, len(body) - 1))
    written = prefix + body[:cut] + sep + body[cut:]
    if prefix.startswith("+86") and national.startswith("0") and draw(st.booleans()):
        written = prefix + "(0)" + body         # the +86 (0)571 form
    return "+86" + nsn, written


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = sample_store(str(tmp_path_factory.mktemp("crm") / "hub.db"))
    yield url
    from hub.store.db import database
    database.close()


def _valid(e164):
    try:
        parse(e164)
        return True
    except PhoneError:
        return False


@SETTINGS
@given(pair=numbers(), other=numbers())
def test_every_written_form_finds_the_same_customer(store, pair, other):
    e164, written = pair
    if not _valid(e164):
        return                                   # not an allocated range: refused on write, as it should be
    c = cu.add({"name": "P"}, actor="t", phones=[written])
    try:
        assert cu.get(c["id"])["phones"] == [e164]
        assert [x["id"] for x in lookup(e164)["customers"]] == [c["id"]]
        assert [x["id"] for x in lookup(other[1])["customers"]] == ([c["id"]] if other[0] == e164 else [])
        if _valid(other[0]):
            assert [x["id"] for x in lookup(other[0])["customers"]] == ([c["id"]] if other[0] == e164 else [])
    finally:
        cu.remove(c["id"], actor="t")


@SETTINGS
@given(text=st.text(max_size=60))
def test_any_text_is_a_number_or_a_clear_refusal(text):
    try:
        p = parse(text)
    except PhoneError as e:
        assert str(e)
        return
    assert p.e164.startswith("+") and p.e164[1:].isdigit()
    assert parse(p.e164).e164 == p.e164


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and s.strip())
cells = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).map(str.strip)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(names, cells, cells, st.sampled_from(["", "13800000020", "0571-8888 1234 转801"]),
                               st.sampled_from(["", "yes", "no"]), st.sampled_from(["", "3", "-12"])),
                     min_size=1, max_size=6))
def test_csv_round_trip(tmp_path_factory, rows):
    from hub.store.db import database
    src = sample_store(str(tmp_path_factory.mktemp("src") / "hub.db"))
    cu.add_field("shop", "fragile", "bool")
    cu.add_field("shop", "credit_days", "int")
    for name, contact, notes, phone, fragile, days in rows:
        cu.add({"name": name, "category": "shop", "contact": contact, "notes": notes}, actor="t",
               phones=[phone] if phone else [], custom={"fragile": fragile, "credit_days": days})
    out = io.StringIO()
    transfer.export_csv(out)
    first = out.getvalue()
    database.close()
    sample_store(str(tmp_path_factory.mktemp("dst") / "hub.db"))
    cu.add_field("shop", "fragile", "bool")
    cu.add_field("shop", "credit_days", "int")
    assert transfer.import_csv(first, actor="t")["added"] == len(rows)
    again = io.StringIO()
    transfer.export_csv(again)
    assert again.getvalue() == first            # the same store assigns the same ids from 1
    # and importing the export into the store it came from changes nothing
    assert transfer.import_csv(first, actor="t") == {"added": 0, "changed": 0, "unchanged": len(rows)}
    database.close()
    del src
