"""Work orders with the real store (SQLite, PostgreSQL where it runs): the flow checker, deadlines
on random business calendars (never outside working time), routing by the parcel's current site,
steps, reminders and escalations that fire once, the orders the hub's facts open (once), SLA
figures, the commands; and the end-to-end complaint: a caller's number → their parcels → a
complaint routed to the parcel's site → replies → a notice at each step by e-mail (a real SMTP
server, aiosmtpd) and SMS (queued) → closed within its SLA."""
from __future__ import annotations

import datetime as dt
import email
import json
import socket
import threading
import uuid

import pytest
import yaml
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

import cli
from hub.crm.workorders import auto, mailin, orders, sla
from hub.crm.workorders.calendar import BusinessCalendar
from hub.crm.workorders.flow import WorkOrderFlowError, check_flow, default_flow, parse_duration
from hub.crm.workorders.tables import WorkOrderEvent
from hub.ingest import pipeline
from hub.ivr.directory import HubDirectory
from hub.ivr.schedule import DAYS, Calendar, Schedule
from hub.mail import send as mail_send
from hub.sms.tables import SmsMessage
from hub.store.db import database
from tests.conftest import sample_store, wait_for, wb

TZ = 480
MIN = 60_000
HOUR = 3_600_000
T0 = int(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp() * 1000)  # Tue 09:00
WB = wb(16)


def local(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone(dt.timedelta(minutes=TZ)))


# --- calendars: pure ---------------------------------------------------------------------------
@st.composite
def schedules(draw):
    hours = {}
    for d in DAYS:
        if draw(st.booleans()):
            a = draw(st.integers(0, 22 * 60))
            b = draw(st.integers(a + 1, 24 * 60))
            hours[d] = [(a, b)]
    if not hours:
        hours["mon"] = [(540, 1080)]
    breaks = []
    if draw(st.booleans()):
        a = draw(st.integers(0, 23 * 60))
        breaks = [(a, draw(st.integers(a + 1, 24 * 60)))]
    hol = draw(st.sets(st.integers(0, 40), max_size=6))
    cal = Calendar(holidays={dt.date(2026, 12, 1) + dt.timedelta(days=k): "h" for k in hol})
    return Schedule("random", hours, breaks, cal)


@settings(max_examples=150, deadline=None)
@given(s=schedules(), start=st.integers(T0 - 3 * 24 * HOUR, T0 + 20 * 24 * HOUR),
       minutes=st.integers(1, 3000))
def test_a_deadline_never_lands_outside_working_time(s, start, minutes):
    cal = BusinessCalendar(s, TZ)
    try:
        d = cal.add(start, minutes * MIN)
    except Exception as e:           # a calendar whose breaks cover all its hours has no time at all
        assert "no working time" in str(e)
        return
    assert d > start
    assert cal.is_open(d - 1), f"deadline {local(d)} is not inside working time"
    assert local(d - 1).date() not in s.calendar.holidays
    assert cal.working_ms(start, d) == minutes * MIN
    e = cal.end_of_days(start, 0)
    assert cal.is_open(e - 1) and not cal.is_open(e) or local(e).hour == 0


def test_deadlines_skip_nights_breaks_weekends_and_holidays():
    f = default_flow(TZ)
    office = f.calendars["office"]
    fri_1730 = T0 + 3 * 24 * HOUR + 8 * HOUR + 30 * MIN            # Fri 2026-12-04 17:30
    assert local(office.add(fri_1730, 60 * MIN)) == local(T0 + 4 * 24 * HOUR + 30 * MIN)   # Sat 09:30
    sat_1130 = T0 + 4 * 24 * HOUR + 2 * HOUR + 30 * MIN
    assert local(office.add(sat_1130, 60 * MIN)).strftime("%a %H:%M") == "Mon 09:00"     # Sunday closed
    assert local(office.add(T0 + 2 * HOUR + 30 * MIN, 60 * MIN)).strftime("%H:%M") == "13:30"   # lunch break
    assert local(office.end_of_days(T0, 0)).strftime("%a %H:%M") == "Tue 18:00"
    assert local(office.end_of_days(T0, 1)).strftime("%a %H:%M") == "Wed 18:00"
    hol = BusinessCalendar(Schedule("h", {d: [(540, 1080)] for d in DAYS[:5]}, [],
                                    Calendar(holidays={dt.date(2026, 12, 2): "holiday"})), TZ)
    assert local(hol.add(T0 + 8 * HOUR, 2 * HOUR)).strftime("%a %H:%M") == "Thu 10:00"   # Wed is a holiday
    assert local(hol.end_of_days(T0, 1)).strftime("%a %H:%M") == "Thu 18:00"


def test_durations():
    assert parse_duration("90m").ms == 90 * MIN and parse_duration("1h30m").ms == 90 * MIN
    assert parse_duration("2d").days == 2
    for bad in ("", "0m", "2x", "1d2h", "-1h", "h"):
        assert parse_duration(bad) is None


def test_the_flow_checker_names_every_problem_and_its_place(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\ncalendars:\n  office: {mon-fri: ['25:00-18:00']}\nsteps:\n  assign: {deadline: 2x}\n"
                 "  accept: {calendar: nope}\n  close: {deadline: 1h}\nrules:\n  - {kinds: [gripe], to: [moon]}\n"
                 "notify: [reply]\nextra: 1\n", encoding="utf-8")
    from hub.crm.workorders.flow import load_flow
    with pytest.raises(WorkOrderFlowError) as e:
        load_flow(str(p))
    text = str(e.value)
    for needle in ("unknown section 'extra'", "is not a range", "deadline '2x'", "begin with accept",
                   "out of order", "no calendar 'nope'", "close ends the order", "unknown kind 'gripe'",
                   "'moon' is not holder", "last resort", "'reply' is not a step", "bad.yaml:5"):
        assert needle in text, needle
    r = CliRunner().invoke(cli.main, ["workorder", "flow", "check", str(p)])
    assert r.exit_code == 1 and "problem(s)" in r.output and "Traceback" not in r.output


# --- with the store ----------------------------------------------------------------------------
def scan(kind, site, minutes, waybill=WB, **kw):
    s = {"id": uuid.uuid4().hex, "station": f"st-{site}-1", "epoch": "e1", "seq": minutes + 10_000, "kind": kind,
         "waybill": waybill, "site": site, "edge_ms": T0 + minutes * MIN, "event_ms": T0 + minutes * MIN}
    s.update(kw)
    return s


@pytest.fixture
def store(store_url):
    sample_store(store_url)
    committed, rejected = pipeline.commit([scan("receive", "100", -600, operator="1001"),
                                           scan("dispatch", "100", -540, next_site="900"),
                                           scan("arrive", "900", -300)])
    assert rejected == []
    yield store_url
    database.close()


def test_an_agent_opens_a_complaint_and_it_goes_to_the_parcels_site(store):
    o = orders.open_work_order("complaint", phone="138 0013 8000", waybill=WB, content="破损", opened_by="1002",
                               at_ms=T0)
    assert o["ticket"] == "WO000001" and o["phone"] == "+8613800138000"
    assert (o["step"], o["assignee"]) == ("handle", "site:900")        # the holder now
    assert local(o["deadline_ms"]).strftime("%H:%M") == "20:00"        # the close of the site's day
    lost = orders.open_work_order("exception", subkind="lost", waybill=wb(99), at_ms=T0)
    assert lost["assignee"] == "department:service"                    # no such parcel: the last resort
    s = orders.open_work_order("suggestion", content="早点派送", at_ms=T0)
    assert s["assignee"] == "department:quality"
    from hub.telephony.tables import CallRecording
    CallRecording.create(call_id="c0ffee", path="2026-12-01/c0ffee.wav", caller="+8613800138000", callee="95311",
                         start_ms=T0, end_ms=T0 + MIN, seconds=60, bytes=960000)
    assert orders.open_work_order("complaint", call_id="c0ffee", at_ms=T0)["ticket"]
    assert orders.show("WO000004")["recording"] == "2026-12-01/c0ffee.wav"     # the call's recording
    with pytest.raises(orders.WorkOrderError, match="unknown kind"):
        orders.open_work_order("rant")
    with pytest.raises(orders.WorkOrderError):
        orders.open_work_order("complaint", phone="12")
    with pytest.raises(orders.WorkOrderError, match="needs the customer's phone"):
        orders.open_work_order("complaint", notify_sms=True)


def test_steps_reopen_and_feedback(store):
    t = orders.open_work_order("complaint", waybill=WB, opened_by="1002", at_ms=T0)["ticket"]
    with pytest.raises(orders.WorkOrderError, match="at step handle"):
        orders.verify(t, at_ms=T0)
    orders.handle(t, "联系了收件人", actor="9001", at_ms=T0 + HOUR)
    orders.reply(t, "已补发", actor="9001", at_ms=T0 + 2 * HOUR)
    v = orders.verify(t, "客户满意", actor="1002", at_ms=T0 + 3 * HOUR)
    assert v["status"] == "closed" and v["step"] == "close" and v["closed_ms"] == T0 + 3 * HOUR
    with pytest.raises(orders.WorkOrderError, match="closed"):
        orders.step(t)
    r = orders.reopen(t, "仍未收到", actor="1002", at_ms=T0 + 5 * HOUR)
    assert (r["status"], r["step"]) == ("open", "handle") and r["deadline_ms"] > T0 + 5 * HOUR
    fb = orders.feedback("1002")
    assert {"handle", "reply"} <= {e["action"] for e in fb} and all(e["actor"] != "1002" for e in fb)
    assert orders.customer_status(t)["step_name"] == "处理" and orders.customer_status("WO999999") is None


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(times=st.lists(st.integers(0, 60 * 24 * 4), min_size=1, max_size=12))
def test_reminders_and_escalations_fire_once_whatever_the_runs(store, times):
    WorkOrderEvent.delete().where(WorkOrderEvent.action.in_(["remind", "escalate"])).execute()
    from hub.crm.workorders.tables import WorkOrder
    o = WorkOrder.get_or_none(WorkOrder.ticket == "WO000001")
    if o is None:
        orders.open_work_order("complaint", waybill=WB, opened_by="1002", at_ms=T0)
        o = WorkOrder.get(WorkOrder.ticket == "WO000001")
    fired = []
    for m in sorted(times) + times:                      # in order, then again in any order: a restart
        fired += orders.remind(T0 + m * MIN)
    step = default_flow(TZ).steps["handle"]
    last = T0 + max(times) * MIN
    want = []
    if any(o.deadline_ms - step.remind_before <= T0 + m * MIN < o.deadline_ms for m in times):
        want.append("remind")
    if last >= o.deadline_ms:
        want.append("escalate")
    assert sorted(f["action"] for f in fired) == sorted(want)
    stored = WorkOrderEvent.select().where(WorkOrderEvent.action.in_(["remind", "escalate"])).count()
    assert stored == len(want)


def test_the_hubs_facts_open_orders_once(store, tmp_path):
    from hub.ivr.tables import Voicemail
    pipeline.commit([scan("dispatch", "900", -200, waybill=wb(20), next_site="901"),
                     scan("sign", "100", 10, waybill=wb(21), signer="Li"),
                     scan("problem", "100", 60, waybill=wb(21), reason="A02"),
                     scan("problem", "100", 5, waybill=wb(22), reason="A04"),       # before its sign: no dispute
                     scan("sign", "100", 30, waybill=wb(22), signer="Wu")])
    Voicemail.create(box="complaints", caller="13800138000", recorded_ms=T0, duration_ms=5000, file="x/1.wav",
                     sha256="0" * 64, size=1)
    now = T0 + 5 * 24 * HOUR
    first = auto.scan_auto(now, days=3)
    assert len(first["loss"]) == 1 and len(first["dispute"]) == 1 and len(first["voicemail"]) == 1
    assert auto.scan_auto(now, days=3) == {"loss": [], "dispute": [], "voicemail": []}
    loss = orders.show(first["loss"][0])
    assert (loss["kind"], loss["subkind"], loss["step"], loss["waybill"]) == ("exception", "lost", "accept", wb(20))
    vm = orders.show(first["voicemail"][0])
    assert vm["phone"] == "+8613800138000" and vm["recording"] == "x/1.wav"
    r = CliRunner().invoke(cli.main, ["workorder", "scan-auto", "--db", store, "--json"])
    assert r.exit_code == 0 and json.loads(r.output) == {"loss": [], "dispute": [], "voicemail": []}


def test_sla_figures_and_the_report(store):
    a = orders.open_work_order("complaint", waybill=WB, at_ms=T0)["ticket"]
    orders.reply(a, "好", at_ms=T0 + HOUR)
    orders.verify(a, at_ms=T0 + 2 * HOUR)
    b = orders.open_work_order("complaint", waybill=WB, at_ms=T0)["ticket"]
    orders.handle(b, "迟了", at_ms=T0 + 3 * 24 * HOUR)               # past handle's deadline
    rows = sla.figures(now=T0 + 4 * 24 * HOUR)
    [r] = [r for r in rows if r["assignee"] == "site:900"]
    assert r["opened"] == 2 and r["closed"] == 1 and r["first_response_h"] == pytest.approx(36.5)
    assert r["resolution_h"] == 2.0 and r["within_sla_rate"] == 1.0 and r["breaches"] >= 2
    for fmt in ("csv", "html"):
        out = CliRunner().invoke(cli.main, ["workorder", "report", "--db", store, "--format", fmt])
        assert out.exit_code == 0 and "site:900" in out.output
    assert "<svg" in CliRunner().invoke(cli.main, ["workorder", "report", "--db", store, "--format", "html"]).output


def test_the_commands(store):
    run = lambda *a: CliRunner().invoke(cli.main, [*a, "--db", store])      # noqa: E731
    r = run("workorder", "open", "complaint", "--phone", "13800138000", "--waybill", WB, "--content", "破损",
            "--by", "1002", "--json")
    assert r.exit_code == 0, r.output
    t = json.loads(r.output)["ticket"]
    assert run("workorder", "step", t, "--note", "已处理").exit_code == 0
    assert "reply" in run("workorder", "show", t).output
    assert run("workorder", "reply", t, "已补发").exit_code == 0
    assert "回访" in run("workorder", "status", t).output
    assert run("workorder", "verify", t).exit_code == 0
    assert t in run("workorder", "list", "--status", "closed", "--format", "csv").output
    bad = run("workorder", "show", "WO424242")
    assert bad.exit_code == 1 and "no work order" in bad.output and "Traceback" not in bad.output
    assert run("workorder", "reopen", t, "--reason", "again").exit_code == 0
    assert run("workorder", "assign", t, "--to", "site:200").exit_code == 0
    assert "site:200" in run("workorder", "show", t, "--json").output


# --- end to end ---------------------------------------------------------------------------------
class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):      # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl, inbox
    ctl.stop()


def test_end_to_end_a_complaint_from_the_callers_number_to_its_close(store, smtp_server, tmp_path):
    ctl, inbox = smtp_server
    mail_send.configure(host="127.0.0.1", port=ctl.port, sender="service@hub.example")
    path = tmp_path / "wb.csv"
    path.write_text("waybill,dest_site,weight_kg,sender_name,sender_phone,receiver_name,receiver_phone\n"
                    f"{WB},200,1.2,王五,0571-8888 1234,赵六,+86 139 0000 1111\n", encoding="utf-8")
    r = CliRunner().invoke(cli.main, ["waybill", "import", str(path), "--site", "100", "--db", store])
    assert r.exit_code == 0, r.output
    from hub.schema import connect
    connect(store)
    d = HubDirectory()
    [caller] = d.customers("13900001111")                      # the caller's number finds the customer
    [parcel] = d.orders(caller.id)                             # and their parcel, where it is now
    assert parcel.waybill == WB and parcel.site == "900"
    o = orders.open_work_order("complaint", phone=caller.phone, name=caller.name, waybill=parcel.waybill,
                               email="zhao@example.com", notify_email=True, notify_sms=True,
                               content="快件延误", opened_by="1002", customer_id=caller.id, at_ms=T0)
    t = o["ticket"]
    assert o["assignee"] == "site:900"                          # routed to the parcel's current site
    orders.handle(t, "已查明，今日转运", actor="site:900", at_ms=T0 + HOUR)
    orders.reply(t, "您的快件今日转运，明日送达", actor="site:900", at_ms=T0 + 2 * HOUR)
    done = orders.verify(t, "客户满意", actor="1002", at_ms=T0 + 3 * HOUR)
    assert done["status"] == "closed"
    # a notice at each notified step (assign happened at open → handle; reply; close) plus the reply
    wait_for(lambda: len(inbox.messages) >= 4, what="four messages at the SMTP server")
    subjects = [m["Subject"] for m in inbox.messages]
    assert all(s.startswith(f"[{t}]") for s in subjects) and any("回复" in s for s in subjects)
    assert any("处理" in m.get_content() for m in inbox.messages)
    assert all(m["In-Reply-To"] for m in inbox.messages[1:])      # one thread
    sms = list(SmsMessage.select().where(SmsMessage.phone == "+8613900001111"))
    assert len(sms) >= 3 and all(t in m.body for m in sms)
    [row] = [r for r in sla.figures(now=T0 + 4 * HOUR) if r["assignee"] == "site:900"]
    assert row["within_sla_rate"] == 1.0
    # the customer answers the last notice: it goes into the same order's thread
    last = inbox.messages[-1]
    reply = (f"From: zhao@example.com\r\nTo: service@hub.example\r\nSubject: Re: {last['Subject']}\r\n"
             f"Message-ID: <r1@example.com>\r\nIn-Reply-To: {last['Message-ID']}\r\n\r\n谢谢\r\n").encode()
    assert mailin.handle(reply) == f"<r1@example.com>: added to {t}"
    assert "already kept" in mailin.handle(reply)
    assert [m["direction"] for m in orders.show(t)["mail"]][-1] == "in"
