"""``scanhub sms``: templates, the send queue, sending through GSM modems, statistics, opt-out."""
from __future__ import annotations

import time

import click

from hub.cli.common import (db_option, done, emit, format_option, json_option, parse_when, utc_option,
                            window_text, with_store)


@click.group("sms")
def sms():
    """SMS to customers: templates, a durable queue, GSM modems, statistics, opt-out.

    \b
    Examples:
      scanhub sms templates                                  the templates and their variables
      scanhub sms templates --set arrival_notice "【{network}】快件{waybill}已到{site_name}"
      scanhub sms send 13800138000 --template greeting --var name=王先生 --var occasion=中秋节
      scanhub sms send 13800138000 --text "您的快件已到达"
      scanhub sms run --modem /dev/ttyUSB0 --modem /dev/ttyUSB1     send the queue, keep going
      scanhub sms queue --state failed
      scanhub sms stats --since 2024-06-01 --format csv
      scanhub sms optout --add 13800138000 --reason "asked by phone"
      scanhub sms policy --quiet 21:00-08:00 --per-hour 3 --per-day 10
    """


def _vars(pairs):
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise click.UsageError(f"--var takes NAME=VALUE, not {p!r}")
        out[k] = v
    return out


@sms.command("send")
@click.argument("phone")
@click.option("--template", help="A template name (see `scanhub sms templates`).")
@click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE", help="A template variable (repeat it).")
@click.option("--text", help="Plain text instead of a template.")
@json_option
@db_option
@with_store
def sms_send(phone, template, pairs, text, fmt):
    """Queue a message to PHONE; `scanhub sms run` sends it (within the quiet hours and rate limits)."""
    from hub.sms import queue
    n = queue.enqueue(phone, template=template, variables=_vars(pairs), text=text)
    m = queue.messages(limit=1)[0]
    done({"id": n, "phone": m["phone"], "state": m["state"], "body": m["body"]},
         f"message {n} to {m['phone']}: {m['state']}" + (" (opted out: not sent)" if m["state"] == "optout" else ""), fmt)


@sms.command("templates")
@click.option("--set", "set_", nargs=2, metavar="NAME BODY", help="Change a template or add one ({name} fields).")
@click.option("--description", help="With --set: what the template is for.")
@format_option
@db_option
@with_store
def sms_templates(set_, description, fmt):
    """The templates with their variables; --set changes or adds one."""
    from hub.sms import templates
    if set_:
        templates.set_template(set_[0], set_[1], description)
    emit(templates.listing(), fmt, "SMS templates", columns=["name", "variables", "body", "description"], totals=False)


@sms.command("queue")
@click.option("--state", help="Only messages in this state (queued, sending, sent, delivered, failed, optout, cancelled).")
@click.option("--phone", help="Only messages to this number.")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True, help="At most this many, newest first.")
@click.option("--cancel", type=int, metavar="ID", help="Cancel a queued message.")
@click.option("--retry", type=int, metavar="ID", help="Queue a failed or cancelled message again.")
@format_option
@utc_option
@db_option
@with_store
def sms_queue(state, phone, limit, cancel, retry, fmt):
    """The messages in the queue and what became of them."""
    from hub.sms import queue
    if cancel is not None:
        queue.cancel(cancel)
    if retry is not None:
        queue.retry(retry)
    emit(queue.messages(state, phone, limit), fmt, "SMS queue", totals=False,
         columns=["id", "phone", "template", "state", "attempts", "parts", "due_ms", "sent_ms", "reason"])


@sms.command("stats")
@click.option("--since", help="From this local time (2024-06-01 or 2024-06-01 08:00).")
@click.option("--until", help="Until this local time (exclusive).")
@format_option
@utc_option
@db_option
@with_store
def sms_stats(since, until, fmt):
    """Sent, delivered, failed, not sent and waiting, by day and template."""
    from hub.sms import queue
    s, u = parse_when(since), parse_when(until)
    emit(queue.stats(s, u), fmt, "SMS statistics", window=window_text(s, u))


@sms.command("optout")
@click.option("--add", "add", metavar="PHONE", help="This number gets no more messages.")
@click.option("--remove", metavar="PHONE", help="This number may get messages again.")
@click.option("--reason", default="", help="With --add: why (asked by phone, complaint…).")
@format_option
@utc_option
@db_option
@with_store
def sms_optout(add, remove, reason, fmt):
    """The numbers that opted out; --add and --remove change the list."""
    from hub.sms import queue
    if add:
        queue.opt_out(add, reason)
    if remove and not queue.opt_in(remove):
        raise click.ClickException(f"{remove} had not opted out")
    emit(queue.opted_out(), fmt, "SMS opt-out", totals=False)


@sms.command("policy")
@click.option("--quiet", metavar="HH:MM-HH:MM", help="Quiet hours in the network's zone (e.g. 21:00-08:00; 00:00-00:00 = none).")
@click.option("--per-hour", type=click.IntRange(0), help="At most this many messages to one number in any hour (0 = no limit).")
@click.option("--per-day", type=click.IntRange(0), help="At most this many to one number in any 24 hours (0 = no limit).")
@click.option("--retries", type=click.IntRange(0), help="Tries after a failed send before the message fails.")
@click.option("--retry-s", type=click.IntRange(1), help="Seconds before the first retry (doubling).")
@click.option("--arrival-notices/--no-arrival-notices", default=None, help="Text receivers when their parcel reaches the destination site.")
@json_option
@db_option
@with_store
def sms_policy(quiet, per_hour, per_day, retries, retry_s, arrival_notices, fmt):
    """Show the sending policy, or change parts of it."""
    from hub.sms import queue
    qs = qe = None
    if quiet:
        qs, sep, qe = quiet.partition("-")
        if not sep:
            raise click.UsageError("--quiet takes HH:MM-HH:MM")
    p = queue.set_policy(quiet_start=qs, quiet_end=qe, per_hour=per_hour, per_day=per_day, retries=retries,
                         retry_s=retry_s, arrival_notices=arrival_notices)
    d = {k: v for k, v in p.__dict__.items() if k != "extra"}
    done(d, "\n".join(f"{k}: {v}" for k, v in d.items()), fmt)


@sms.command("run")
@click.option("--modem", "modems", multiple=True, required=True,
              help="A modem's serial port (repeat for a pool): /dev/ttyUSB0, socket://host:port, spy://…")
@click.option("--baudrate", type=int, default=115200, show_default=True, help="The modems' serial speed.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between looks at the queue.")
@click.option("--once", is_flag=True, help="Send what is due now, wait briefly for reports, and stop.")
@click.option("--report-wait", type=float, default=10.0, show_default=True, help="With --once: seconds to wait for delivery reports.")
@json_option
@db_option
@with_store
def sms_run(modems, baudrate, interval, once, report_wait, fmt):
    """Send the queue through the modems and record their delivery reports (Ctrl-C stops).

    A customer who replies TD, 退订 or STOP is opted out."""
    import queue as pyqueue

    from drivers.gsm_modem import ModemPool, open_modem
    from hub.sms import queue
    reports: pyqueue.Queue = pyqueue.Queue()
    replies: pyqueue.Queue = pyqueue.Queue()
    pool = ModemPool([open_modem(p, baudrate=baudrate, name=p, on_report=lambda r, p=p: reports.put((p, r)),
                                 on_message=replies.put) for p in modems])
    totals = dict.fromkeys(("sent", "deferred", "retry", "failed", "optout", "delivered", "reports", "replies",
                            "opted_out"), 0)
    reported: set[int] = set()

    def drain_reports():
        while True:
            try:
                msg = replies.get_nowait()
            except pyqueue.Empty:
                break
            totals["replies"] += 1
            totals["opted_out"] += queue.handle_reply(msg.sender, msg.text)
        while True:
            try:
                name, r = reports.get_nowait()
            except pyqueue.Empty:
                break
            totals["reports"] += 1
            mid = queue.record_report(name, r.reference, r.status)
            if mid is not None:
                reported.add(mid)
        totals["delivered"] = queue.count_delivered(reported)
    try:
        for m in pool.modems:
            m.wait_connected(5.0)
        queue.recover()
        last_line = ""
        while True:
            for k, v in queue.dispatch(pool).items():
                totals[k] += v
            drain_reports()
            if once:
                deadline = time.monotonic() + report_wait
                while time.monotonic() < deadline and queue.messages("sent", limit=1):
                    time.sleep(0.05)
                    drain_reports()
                break
            line = " ".join(f"{k} {v}" for k, v in totals.items())
            if fmt != "json" and line != last_line:          # progress, when something happened
                click.echo(line)
                last_line = line
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        pool.close()
    done(totals, " ".join(f"{k} {v}" for k, v in totals.items()), fmt)


@sms.command("modem")
@click.argument("port")
@click.option("--baudrate", type=int, default=115200, show_default=True, help="The modem's serial speed.")
@json_option
def sms_modem(port, baudrate, fmt):
    """Check a modem at PORT: signal strength and network registration (no store needed)."""
    from drivers.gsm_modem import open_modem
    from drivers.gsm_modem.at import REGISTRATION
    with open_modem(port, baudrate=baudrate) as m:
        if not m.wait_connected(5.0):
            raise click.ClickException(f"{port}: cannot open the port ({m.status().get('last_error')})")
        s = m.signal()
    done({"port": port, **s}, f"{port}: signal {s['dbm'] if s['dbm'] is not None else 'unknown'} dBm, "
         f"{REGISTRATION.get(s['registration'], s['registration'])}", fmt)


