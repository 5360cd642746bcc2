"""E-mail: the inbound parser under hypothesis (any bytes: a clear error or a message, never a
crash), the SMTP listener (aiosmtpd) taking real mail over a socket into work orders with
threading, sending through a real local SMTP server, and the commands' errors."""
from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import cli
from hub.crm.workorders import mailin, orders
from hub.mail import send as mail_send
from hub.mail.message import MailError, parse
from hub.mail.receive import smtp_listener
from hub.store.db import database
from tests.conftest import sample_store, wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=2000))
def test_any_bytes_are_a_message_or_a_clear_error(raw):
    try:
        m = parse(raw)
    except MailError as e:
        assert str(e)
        return
    assert "@" in m.sender and m.message_id.startswith("<")


header_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(subject=header_text, body=st.text(max_size=500), html=st.booleans(),
       reply=st.sampled_from(["", "<a@b>", "garbage", "<x@y> <z@w>"]))
def test_well_formed_messages_keep_their_fields(subject, body, html, reply):
    msg = EmailMessage()
    msg["From"] = "客户 <c@example.com>"
    msg["To"] = "service@hub.example"
    msg["Subject"] = " ".join(subject.split())
    if reply:
        msg["In-Reply-To"] = reply
    msg.set_content(body, subtype="html" if html else "plain")
    m = parse(msg.as_bytes())
    assert m.sender == "c@example.com" and m.subject == " ".join(subject.split())[:300]
    assert m.in_reply_to == ("" if reply in ("", "garbage") else reply.split()[0])
    if not html:
        assert m.body == body.replace("\r\n", "\n").replace("\r", "\n").strip() or m.body.strip() == m.body


def test_clear_errors():
    for raw, what in ((b"", "empty"), (b"Subject: hi\r\n\r\nno sender", "no sender")):
        with pytest.raises(MailError, match=what):
            parse(raw)


@pytest.fixture
def store(store_url):
    sample_store(store_url)
    yield store_url
    database.close()


def test_mail_into_work_orders_over_smtp(store):
    ctl = smtp_listener(mailin.handle, "127.0.0.1", free_port())
    ctl.start()
    try:
        new = EmailMessage()
        new["From"], new["To"], new["Subject"] = "c@example.com", "service@hub.example", "快件没收到"
        new["Message-ID"] = "<m1@example.com>"
        new.set_content("单号 70000000000016 一周了")
        with smtplib.SMTP("127.0.0.1", ctl.port, timeout=30) as s:
            s.send_message(new)
        from hub.crm.workorders.tables import WorkOrder
        wait_for(lambda: WorkOrder.select().count() == 1, timeout=30, what="an order from the mail")
        o = orders.listing()[0]
        assert (o["kind"], o["source"]) == ("inquiry", "email")
        t = o["ticket"]
        by_subject = EmailMessage()
        by_subject["From"], by_subject["Subject"] = "c@example.com", f"还是没收到 {t}"
        by_subject["To"] = "service@hub.example"
        by_subject.set_content("请尽快")
        threaded = EmailMessage()
        threaded["From"], threaded["Subject"] = "c@example.com", "Re: 快件没收到"
        threaded["To"] = "service@hub.example"
        threaded["In-Reply-To"] = "<m1@example.com>"
        threaded.set_content("再问一次")
        with smtplib.SMTP("127.0.0.1", ctl.port, timeout=30) as s:
            s.send_message(by_subject)
            s.send_message(threaded)
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("x@y", ["service@hub.example"], b"Subject: no sender\r\n\r\nbody")
            assert e.value.smtp_code == 550
        wait_for(lambda: len(orders.show(t)["mail"]) == 3, timeout=30, what="three messages in the thread")
        assert WorkOrder.select().count() == 1
        assert [e["action"] for e in orders.show(t)["events"]].count("mail") == 2
    finally:
        ctl.stop()


def test_sending_records_failures_and_needs_settings(store):
    with pytest.raises(MailError, match="no SMTP server set"):
        mail_send.send("a@b.example", "x", "y")
    mail_send.configure(host="127.0.0.1", port=free_port(), sender="service@hub.example")
    with pytest.raises(MailError, match="cannot send"):
        mail_send.send("a@b.example", "x", "y", ticket="WO000001")
    from hub.mail.tables import MailMessage
    assert MailMessage.get().state == "failed"
    with pytest.raises(MailError, match="bad recipient"):
        mail_send.send("a@b.example\r\nBcc: z@z", "x", "y")
    r = CliRunner().invoke(cli.main, ["mail", "setup", "--smtp", "host:port", "--db", store])
    assert r.exit_code != 0 and "HOST:PORT" in r.output
    r = CliRunner().invoke(cli.main, ["mail", "send-test", "a@b.example", "--db", store])
    assert r.exit_code == 1 and "cannot send" in r.output and "Traceback" not in r.output


def test_a_message_taken_again_after_a_failure_does_what_the_failed_try_did_not(tmp_path):
    """A store failure after the message was kept (the note's insert, the order's insert) fails
    the try; taking the message again (the IMAP poll does, the SMTP sender retries) adds the note
    or opens the order once, never "already kept" with nothing done."""
    import sqlite3
    from hub.crm.workorders.tables import WorkOrder
    db = sample_store(str(tmp_path / "hub.db"))
    try:
        con = sqlite3.connect(db)

        def fault(table):
            con.execute(f"CREATE TRIGGER scanhub_test_fault BEFORE INSERT ON {table} "
                        "BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
            con.commit()

        def mend():
            con.execute("DROP TRIGGER scanhub_test_fault")
            con.commit()
        first = (b"From: c@example.com\r\nTo: service@hub.example\r\nSubject: where is it\r\n"
                 b"Message-ID: <m1@example.com>\r\n\r\nparcel 70000000000016\r\n")
        fault(WorkOrder._meta.table_name)
        with pytest.raises(Exception, match="injected fault"):
            mailin.handle(first)
        mend()
        assert "opened" in mailin.handle(first)
        [o] = orders.listing()
        assert "already kept" in mailin.handle(first) and WorkOrder.select().count() == 1
        reply = (b"From: c@example.com\r\nTo: service@hub.example\r\nSubject: Re: where is it\r\n"
                 b"Message-ID: <r1@example.com>\r\nIn-Reply-To: <m1@example.com>\r\n\r\nstill nothing\r\n")
        from hub.crm.workorders.tables import WorkOrderEvent
        fault(WorkOrderEvent._meta.table_name)
        with pytest.raises(Exception, match="injected fault"):
            mailin.handle(reply)
        mend()
        assert "added to" in mailin.handle(reply)
        assert "already kept" in mailin.handle(reply)
        shown = orders.show(o["ticket"])
        assert [e["action"] for e in shown["events"]].count("mail") == 1 and len(shown["mail"]) == 2
        con.close()
    finally:
        database.close()
