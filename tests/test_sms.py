"""SMS on the hub with the real store: the queue's policy (quiet hours, opt-out, rate limits) over
random schedules, sending through the simulated modem over a pty, delivery reports, retries,
statistics, the commands, and the arrival notice the scans trigger."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from smspdudecoder.easy import read_outgoing_sms

from cli import main
from drivers.gsm_modem import ModemPool, open_modem
from hub.business import tables as bm
from hub.ingest import pipeline
from hub.schema import connect
from hub.sms import queue, templates
from hub.sms.policy import DAY_MS, HOUR_MS, MINUTE_MS, Policy, next_allowed, quiet_until
from hub.sms.tables import SmsMessage, SmsOptOut, SmsPart
from hub.store.db import database
from sim.gsm_modem import SimModem
from tests.conftest import sample_store, wait_for, wb

T0 = 1_717_200_000_000          # 2024-06-01 00:00 UTC = 08:00 in UTC+08:00
TZ = 480


class Recorder:
    """The radio network's stand-in for the policy tests: accepts every message."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def send(self, number, text):
        self.sent.append((number, text))
        return "rec", type("Sent", (), {"references": [len(self.sent) % 256]})()


@pytest.fixture
def store(store_url):
    sample_store(store_url)
    yield store_url
    database.close()


def local_minute(t):
    return ((t + TZ * MINUTE_MS) % DAY_MS) // MINUTE_MS


# --- the pure policy ------------------------------------------------------------------------
@given(t=st.integers(T0, T0 + 30 * DAY_MS), s=st.integers(0, 1439), e=st.integers(0, 1439))
def test_quiet_until_leaves_the_quiet_hours_at_their_end(t, s, e):
    p = Policy(quiet_start=f"{s // 60:02d}:{s % 60:02d}", quiet_end=f"{e // 60:02d}:{e % 60:02d}")
    u = quiet_until(t, p, TZ)
    inside = lambda m: s != e and (s <= m < e if s < e else (m >= s or m < e))   # noqa: E731
    assert u >= t and not inside(local_minute(u))
    if u > t:
        assert inside(local_minute(t)) and local_minute(u) == e and u - t <= DAY_MS


@given(now=st.integers(T0, T0 + DAY_MS), sent=st.lists(st.integers(T0 - DAY_MS, T0 + DAY_MS), max_size=30),
       per_hour=st.integers(0, 4), per_day=st.integers(0, 12))
def test_next_allowed_keeps_every_window_within_its_limit(now, sent, per_hour, per_day):
    sent = [x for x in sent if x <= now]
    p = Policy(quiet_start="22:00", quiet_end="07:30", per_hour=per_hour, per_day=per_day)
    t = next_allowed(now, sent, p, TZ)
    assert t >= now and not (local_minute(t) >= 22 * 60 or local_minute(t) < 7 * 60 + 30)
    after = sent + [t]
    for limit, window in ((per_hour, HOUR_MS), (per_day, DAY_MS)):
        if limit:
            assert sum(1 for x in after if t - window < x <= t) <= limit


# --- the queue over random schedules ---------------------------------------------------------
PHONES = ["13800000001", "13800000002", "13800000003"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_queue_respects_quiet_hours_opt_out_and_rate_limits(store, data):
    for t in (SmsPart, SmsMessage, SmsOptOut):
        t.delete().execute()
    s, e = data.draw(st.integers(0, 1439)), data.draw(st.integers(0, 1439))
    pol = Policy(quiet_start=f"{s // 60:02d}:{s % 60:02d}", quiet_end=f"{e // 60:02d}:{e % 60:02d}",
                 per_hour=data.draw(st.integers(1, 3)), per_day=data.draw(st.integers(3, 6)))
    out = set(data.draw(st.lists(st.sampled_from(PHONES), max_size=2)))
    for p in out:
        queue.opt_out(p)
    events = sorted(data.draw(st.lists(st.tuples(st.integers(0, 2 * DAY_MS), st.sampled_from(PHONES + ["tick"])),
                                       min_size=1, max_size=25)))
    rec = Recorder()
    for offset, what in events:
        t = T0 + offset
        if what == "tick":
            queue.dispatch(rec, now=t, policy=pol)
        else:
            queue.enqueue(what, text=f"m{offset}", at_ms=t)
    # then run the clock forward until the queue is empty: everything not opted out goes out
    for _ in range(500):
        waiting = list(SmsMessage.select().where(SmsMessage.state == "queued"))
        if not waiting:
            break
        queue.dispatch(rec, now=min(m.due_ms for m in waiting), policy=pol)
    assert not SmsMessage.select().where(SmsMessage.state == "queued").exists()
    rows = list(SmsMessage.select())
    inside = lambda m: s != e and (s <= m < e if s < e else (m >= s or m < e))   # noqa: E731
    for m in rows:
        if queue.normalize_phone(m.phone) in {queue.normalize_phone(p) for p in out}:
            assert m.state == "optout" and m.sent_ms is None
        else:
            assert m.state == "sent" and m.sent_ms >= m.created_ms
            assert not inside(local_minute(m.sent_ms)), "sent in the quiet hours"
    for phone in PHONES:
        times = sorted(m.sent_ms for m in rows if m.phone == queue.normalize_phone(phone) and m.sent_ms)
        for t in times:
            assert sum(1 for x in times if t - HOUR_MS < x <= t) <= pol.per_hour
            assert sum(1 for x in times if t - DAY_MS < x <= t) <= pol.per_day
    assert len(rec.sent) == sum(1 for m in rows if m.state == "sent")


# --- templates -------------------------------------------------------------------------------
def test_templates_fill_and_complain(store):
    assert set(templates.BUILTIN) <= {t["name"] for t in templates.listing()}
    body = templates.fill(templates.get("arrival_notice").body, {"network": "顺达", "waybill": "W1", "site_name": "西湖网点"})
    assert body == "【顺达】您的快件W1已到达西湖网点，请留意派送或前往网点领取。"
    with pytest.raises(templates.TemplateError, match="missing variable.*site_name"):
        templates.fill(templates.get("arrival_notice").body, {"network": "x", "waybill": "W1"})
    for bad in ("{a.b}", "{0}", "{x!r}", "{", "{x:>3}"):
        with pytest.raises(templates.TemplateError):
            templates.set_template("t", bad)
    templates.set_template("arrival_notice", "{waybill}到了")
    assert templates.get("arrival_notice").body == "{waybill}到了"


@given(st.text(max_size=60))
def test_any_template_text_is_accepted_or_refused_with_a_template_error(text):
    try:
        names = templates.fields(text)
    except templates.TemplateError:
        return
    templates.fill(text, dict.fromkeys(names, "v"))


@given(st.text(max_size=30))
def test_phone_numbers_normalise_or_are_refused_clearly(p):
    try:
        n = queue.normalize_phone(p)
    except queue.SmsError:
        return
    assert n == queue.normalize_phone(n)


# --- through the simulated modem -------------------------------------------------------------
def test_a_200_character_chinese_notice_goes_in_three_parts_and_is_delivered(store):
    text = ("尊敬的客户您好，您的快件已到达目的网点，请凭取件码前往领取。" * 8)[:200]
    queue.set_policy(quiet_start="00:00", quiet_end="00:00")
    n = queue.enqueue("13800138000", text=text)
    with SimModem() as sim:
        res = CliRunner().invoke(main, ["sms", "run", "--modem", sim.path, "--once", "--json", "--db", store])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output.splitlines()[-1])["delivered"] == 1
        decoded = [read_outgoing_sms("00" + h) for h in sim.sent]
    assert len(decoded) == 3 and "".join(d["content"] for d in decoded) == text
    assert {d["recipient"] for d in decoded} == {"+8613800138000"}
    m = SmsMessage.get_by_id(n)
    assert (m.state, m.parts) == ("delivered", 3)
    assert {p.state for p in SmsPart.select().where(SmsPart.message == n)} == {"delivered"}
    (row,) = queue.stats()
    assert (row["sent"], row["delivered"], row["failed"]) == (1, 1, 0)


def test_a_refused_send_is_retried_then_failed_and_a_failed_report_fails_the_message(store):
    pol = Policy(quiet_start="00:00", quiet_end="00:00", retries=1, retry_s=60)
    with SimModem() as sim, open_modem(sim.path, name="m1") as modem:
        reports = []
        modem.on_report = reports.append
        modem.wait_connected()
        pool = ModemPool([modem], cool_down_s=0)
        sim.fail_next += [500, 500]
        a = queue.enqueue("13800000001", text="a", at_ms=T0)
        assert queue.dispatch(pool, now=T0, policy=pol)["retry"] == 1
        assert queue.dispatch(pool, now=T0 + 30_000, policy=pol) == dict.fromkeys(("sent", "deferred", "retry", "failed", "optout"), 0)
        assert queue.dispatch(pool, now=T0 + 61_000, policy=pol)["failed"] == 1
        assert SmsMessage.get_by_id(a).state == "failed" and "500" in SmsMessage.get_by_id(a).reason
        sim.report_status["+8613800000002"] = 0x41
        b = queue.enqueue("13800000002", text="b", at_ms=T0)
        assert queue.dispatch(pool, now=T0 + 62_000, policy=pol)["sent"] == 1
        wait_for(lambda: reports, what="a delivery report")
        assert queue.record_report("m1", reports[0].reference, reports[0].status) == b
    assert SmsMessage.get_by_id(b).state == "failed"
    assert queue.record_report("m1", 250, "delivered") is None          # nothing sent with that reference
    queue.retry(a)
    assert SmsMessage.get_by_id(a).state == "queued"


def test_an_interrupted_send_goes_back_in_the_queue(store):
    n = queue.enqueue("13800000001", text="x")
    SmsMessage.update(state="sending").where(SmsMessage.id == n).execute()
    assert queue.recover() == 1 and SmsMessage.get_by_id(n).state == "queued"


# --- the arrival notice ----------------------------------------------------------------------
def sc(i, kind, site, t, w, **kw):
    return {"id": f"s{w}-{i}", "station": "st", "seq": i, "kind": kind, "waybill": w, "site": site,
            "edge_ms": t, "event_ms": t, "clock": "trusted", **kw}


def test_arrival_at_the_destination_queues_one_notice_to_the_receiver(store):
    w, other = wb(1), wb(2)
    bm.PlatformOrder.create(order_no="TB1", platform="taobao", phone="13800138000", accept="accepted", site="100",
                            waybill=w, imported_ms=T0)
    scans = [sc(1, "receive", "100", T0, w, dest_site="200"), sc(2, "arrive", "900", T0 + HOUR_MS, w),
             sc(3, "arrive", "200", T0 + 5 * HOUR_MS, w), sc(1, "receive", "100", T0, other, dest_site="200"),
             sc(2, "arrive", "200", T0 + 5 * HOUR_MS, other)]
    pipeline.commit(scans[:2])
    assert not SmsMessage.select().exists()                 # the center is not the destination
    pipeline.commit(list(reversed(scans)))
    pipeline.commit(scans)                                   # replays change nothing
    (m,) = SmsMessage.select()
    assert (m.phone, m.waybill, m.template, m.state) == ("+8613800138000", w, "arrival_notice", "queued")
    assert w in m.body and "Pudong Site" in m.body           # no receiver phone for the other waybill: no notice


def test_the_entered_waybills_receiver_phone_comes_first_and_entry_after_the_arrival_counts(store):
    w = wb(3)
    bm.PlatformOrder.create(order_no="TB3", platform="taobao", phone="13900000000", accept="accepted", site="100",
                            waybill=w, imported_ms=T0)
    pipeline.commit([sc(1, "receive", "100", T0, w, dest_site="200"), sc(2, "arrive", "200", T0 + HOUR_MS, w)])
    SmsMessage.delete().execute()                    # as if the order's notice had not been queued
    pipeline.commit_waybills([{"id": "r1", "waybill": w, "site": "100", "station": None, "edge_ms": T0,
                               "event_ms": T0, "fields": {"receiver_phone": "13700000000"}}])
    (m,) = SmsMessage.select()
    assert m.phone == "+8613700000000" and m.waybill == w


def test_a_template_the_notice_cannot_fill_never_blocks_the_scans(store):
    templates.set_template("arrival_notice", "{waybill}到了，取件码{code}")
    bm.PlatformOrder.create(order_no="TB1", platform="taobao", phone="13800138000", accept="accepted", site="100",
                            waybill=wb(1), imported_ms=T0)
    committed, rejected = pipeline.commit([sc(1, "receive", "100", T0, wb(1), dest_site="200"),
                                           sc(2, "arrive", "200", T0 + 1, wb(1))])
    assert len(committed) == 2 and not rejected and not SmsMessage.select().exists()


def test_arrival_notices_can_be_turned_off(store):
    queue.set_policy(arrival_notices=False)
    bm.PlatformOrder.create(order_no="TB1", platform="taobao", phone="13800138000", accept="accepted", site="100",
                            waybill=wb(1), imported_ms=T0)
    pipeline.commit([sc(1, "receive", "100", T0, wb(1), dest_site="200"), sc(2, "arrive", "200", T0 + 1, wb(1))])
    assert not SmsMessage.select().exists()


# --- the commands ----------------------------------------------------------------------------
def test_the_commands(tmp_path):
    db = str(tmp_path / "hub.db")
    r = CliRunner()
    assert r.invoke(main, ["hub", "init", "--db", db]).exit_code == 0
    res = r.invoke(main, ["sms", "send", "13800138000", "--template", "greeting", "--var", "name=王先生",
                          "--var", "occasion=中秋节", "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["body"].endswith("王先生您好，中秋节快乐！感谢您一直以来的支持。")
    res = r.invoke(main, ["sms", "send", "13800138000", "--template", "greeting", "--db", db])
    assert res.exit_code == 1 and "missing variable(s) for the template: name, occasion" in res.output
    assert r.invoke(main, ["sms", "optout", "--add", "138 0013 8000", "--reason", "asked", "--db", db]).exit_code == 0
    res = r.invoke(main, ["sms", "queue", "--db", db, "--json"])
    assert [m["state"] for m in json.loads(res.output)] == ["optout"]
    res = r.invoke(main, ["sms", "send", "+8613800138000", "--text", "hi", "--db", db])
    assert "opted out" in res.output
    res = r.invoke(main, ["sms", "policy", "--quiet", "22:00-07:00", "--per-hour", "2", "--db", db, "--json"])
    assert json.loads(res.output)["quiet_start"] == "22:00"
    res = r.invoke(main, ["sms", "policy", "--quiet", "25:00-07:00", "--db", db])
    assert res.exit_code == 1 and "not a time of day" in res.output
    res = r.invoke(main, ["sms", "templates", "--set", "pickup_code", "取件码{code}", "--db", db, "--format", "csv"])
    assert "pickup_code,code," in res.output
    res = r.invoke(main, ["sms", "stats", "--db", db, "--json"])
    assert sum(r["not_sent"] for r in json.loads(res.output)) == 2
    res = r.invoke(main, ["sms", "send", "12ab", "--text", "x", "--db", db])
    assert res.exit_code == 1 and "not a phone number" in res.output


def test_the_modem_check_command():
    with SimModem(rssi=31, registration=5) as sim:
        res = CliRunner().invoke(main, ["sms", "modem", sim.path])
    assert res.exit_code == 0 and "signal -51 dBm, registered (roaming)" in res.output


@pytest.mark.parametrize("reply,stops", [("TD", True), (" td。", True), ("退订", True), ("STOP", True),
                                         ("谢谢", False), ("TD 谢谢", False)])
def test_a_stop_reply_opts_the_number_out(store, reply, stops):
    assert queue.handle_reply("+8613800138000", reply) is stops
    assert queue.is_opted_out("+8613800138000") is stops
