"""Campaigns in the hub store (SQLite, and PostgreSQL where it runs): lists, DNC lists with the
SMS opt-outs, every attempt and refusal recorded, survey answers and the low-score hook, the CLI."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from hub.outbound import simulate, store
from hub.outbound.campaign import check_campaign, load_campaign
from hub.outbound.contacts import Contact

DOCS = Path(__file__).resolve().parent.parent / "docs" / "examples" / "outbound"


@pytest.fixture
def db(store_url):
    from hub.schema import connect
    from hub.store.db import database
    connect(store_url, create=True)
    yield store_url
    database.close()


def survey_campaign():
    return check_campaign({"name": "s", "mode": "agentless", "window": {"mon-sun": ["00:00-24:00"]}, "lines": 4,
                           "survey": {"low_score": 2, "questions": [{"id": "q1", "kind": "score"},
                                                                    {"id": "q2", "kind": "yesno"}]}})


def test_opted_out_numbers_are_refused_and_every_call_is_recorded(db):
    from contract.clock import now_ms
    from hub.outbound.tables import CampaignAttempt, CampaignRefusal, SurveyAnswer
    from hub.sms.tables import SmsOptOut
    c = survey_campaign()
    contacts = [Contact(f"+86138{i:08d}") for i in range(40)]
    assert store.import_contacts("s", contacts) == 40
    assert store.import_contacts("s", contacts[:5]) == 0              # kept once
    SmsOptOut.create(phone="+8613800000003", reason="asked", at_ms=now_ms())
    store.add_dnc("138 0000 0004", "internal", "asked on the phone")
    store.add_dnc("13800000005", "s")
    low = []
    res = simulate.run(c, store.contacts_of("s"), simulate.Traffic(answer_rate=0.6, seed=4), 30,
                       dnc=store.dnc_lookup("s"))
    store.sink(c, hook=lambda name, row, q, score: low.append((row["call"], q, score)))(res.records)
    refused = {r.number: r.reason for r in CampaignRefusal.select() if r.reason.startswith("dnc:")}
    assert refused == {"+8613800000003": "dnc:sms-optout", "+8613800000004": "dnc:internal",
                       "+8613800000005": "dnc:campaign"}
    dialled = {a.call for a in res.actions if type(a).__name__ == "Dial"}
    stored = {r.call for r in CampaignAttempt.select()}
    assert stored == dialled - set(res.dialer.calls)
    answers = list(SurveyAnswer.select())
    assert answers and {a.question for a in answers} == {"q1", "q2"}
    assert sorted(low) == sorted((a.call, "q1", int(a.answer)) for a in answers
                                 if a.question == "q1" and int(a.answer) <= 2)
    rows = store.survey("s")
    assert sum(r["calls"] for r in rows if r["question"] == "q1") == len({a.call for a in answers})


def test_a_low_score_opens_one_work_order_for_the_customer(db):
    """The hook opens an inquiry for the caller's number, once per call and question."""
    from hub.crm.workorders.orders import listing, show
    for _ in range(2):
        store.low_score_hook("s", {"number": "+8613800000000", "call": "s-1"}, "q1", 1)
    orders = listing(phone="+8613800000000")
    assert [(o["kind"], o["source"]) for o in orders] == [("inquiry", "campaign")]
    assert "low survey score 1 on q1" in show(orders[0]["ticket"])["content"]

def test_the_documented_example_checks_imports_and_simulates(tmp_path):
    url = str(tmp_path / "hub.db")
    run = CliRunner().invoke
    assert run(main, ["hub", "init", "--db", url]).exit_code == 0
    f = str(DOCS / "survey.yaml")
    r = run(main, ["campaign", "check", f])
    assert r.exit_code == 0 and "ok" in r.output
    r = run(main, ["campaign", "import", f, "--db", url])
    assert r.exit_code == 0 and "3 number(s) added" in r.output, r.output
    r = run(main, ["campaign", "simulate", f, "--db", url, "--minutes", "120", "--store", "--json"])
    assert r.exit_code == 0, r.output
    r = run(main, ["campaign", "report", "survey-after-delivery", "--what", "refusals", "--db", url, "--format", "csv"])
    assert r.exit_code == 0 and "reason" in r.output
    r = run(main, ["campaign", "dnc", "--add", "not a phone", "--db", url])
    assert r.exit_code == 1 and "not a phone number" in r.output and "Traceback" not in r.output


def test_a_bad_campaign_file_is_one_clear_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "mode": "predictive", "window": {"mon": ["25:00-26:00"]}, "agents": ["a"]}))
    r = CliRunner().invoke(main, ["campaign", "check", str(p)])
    assert r.exit_code == 1 and "not a range" in r.output and "abandon_message" in r.output
    assert "Traceback" not in r.output
    with pytest.raises(Exception, match="no such file"):
        load_campaign(str(tmp_path / "missing.yaml"))


def test_the_receivers_of_yesterdays_signed_parcels_at_given_sites(db):
    import json

    from contract.clock import now_ms
    from hub.business.localtime import network_offset
    from hub.outbound import lists
    from hub.scans.tables import ScanEvent
    from hub.waybills.tables import WaybillEntry
    off = network_offset() * 60_000
    yesterday_noon = ((now_ms() + off) // 86_400_000 - 1) * 86_400_000 - off + 12 * 3_600_000
    for i, (site, when, phone) in enumerate([("100", yesterday_noon, "138 0013 8000"),
                                            ("100", yesterday_noon + 1000, "+86 13800138000"),   # same receiver
                                            ("200", yesterday_noon, "13900139000"),               # another site
                                            ("100", yesterday_noon - 86_400_000, "13700137000")]):  # the day before
        wb = f"SF{i:010d}"
        ScanEvent.create(id=f"s{i}", station="st-100-1", seq=i, kind="sign", waybill=wb, site=site, edge_ms=when,
                         event_ms=when, clock="trusted", received_ms=when)
        WaybillEntry.create(waybill=wb, origin_site="100", entered_ms=when, updated_ms=when, records=1,
                            fields_json=json.dumps({"receiver_phone": phone, "receiver_name": f"r{i}"}))
    got = lists.load({"source": "signed", "sites": ["100"]})
    assert [(c.number, c.name, c.fields["waybill"]) for c in got] == [("+8613800138000", "r0", "SF0000000000")]
    assert lists.check_spec({"source": "signed", "sites": [], "day": "someday"}) == [
        "signed needs sites: a list of site codes", "signed: day must be yesterday or a date like 2026-12-01, not 'someday'"]


def test_the_stored_attempts_restore_the_rolling_window_when_the_campaign_runs_again(db):
    """A predictive run's records in the store; the dialer of the next run, an hour later, starts
    with that window (the same calls, the same rate), another campaign's calls not among them."""
    from hub.outbound.engine import Dialer
    c = check_campaign({"name": "p", "mode": "predictive", "window": {"mon-sun": ["00:00-24:00"]},
                        "agents": ["a1", "a2", "a3"], "abandon_message": "abandon.wav", "max_attempts": 1,
                        "pacing": {"abandon_cap": 0.2, "backoff_at": 1.0}})
    other = check_campaign({"name": "q", "mode": "progressive", "window": {"mon-sun": ["00:00-24:00"]},
                            "agents": ["b1"], "max_attempts": 1})
    contacts = [Contact(f"+86138{i:08d}") for i in range(400)]
    traffic = simulate.Traffic(answer_rate=0.6, talk_s=60, seed=5)
    first = simulate.run(c, contacts, traffic, 60)
    store.sink(c)(first.records)
    store.sink(other)(simulate.run(other, [Contact("+8613900000000")], traffic, 10).records)
    attempts = [r for r in first.records if r["kind"] == "attempt"]
    person = [r for r in attempts if r["outcome"] not in ("no-answer", "busy", "failed", "machine")]
    lost = sum(r["outcome"] in ("abandoned", "dropped") for r in person)
    assert lost and len(person) > 50

    restart = simulate.START_MS + 2 * 3_600_000
    history = store.pacer_history("p", restart - 24 * 3_600_000)
    assert [(h["call"], h["outcome"], h["placed_ms"], h["connected_ms"], h["ended_ms"]) for h in history] == \
        sorted(((r["call"], r["outcome"], r["placed_ms"], r["connected_ms"], r["ended_ms"]) for r in attempts),
               key=lambda r: r[2])                                 # oldest first
    d = Dialer(c, [], lambda: restart, history=history)
    assert d.pacer.window(restart) == (len(person), lost)
    assert d.status()["abandon_rate"] == pytest.approx(simulate.figures(first.records, c, 0, 1)["abandon_rate"])
    since = simulate.START_MS + 30 * 60_000                       # the records placed since then only
    assert {h["call"] for h in store.pacer_history("p", since)} == {r["call"] for r in attempts
                                                                     if r["placed_ms"] >= since}
    assert Dialer(c, [], lambda: restart + 25 * 3_600_000, history=history).pacer.window(
        restart + 25 * 3_600_000) == (0, 0)                        # a day later: out of the window
