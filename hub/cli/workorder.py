"""``scanhub workorder``: open, move, answer and close work orders; reminders, the orders the
hub's facts call for, SLA reports, the flow file (docs/crm.md, "Work orders")."""
from __future__ import annotations

import click

from hub.cli.common import db_option, done, emit, format_option, json_option, parse_when, window_text, with_store

STEPS_TEXT = "accept → assign → handle → reply → verify → close"


@click.group("workorder")
def workorder():
    """Work orders (工单): complaints, follow-ups, suggestions, praise, exceptions, pickup problems.

    Each goes through the flow's steps (accept → assign → handle → reply → verify → close) with a
    deadline per step in working time; the customer hears of each step by SMS or e-mail if they
    asked.

    \b
    Examples:
      scanhub workorder open complaint --phone 13800138000 --waybill 70000000000016 \\
          --name 王先生 --content "快件破损" --notify-sms --by 1002
      scanhub workorder show WO000001
      scanhub workorder list --status open --overdue
      scanhub workorder step WO000001 --note "网点已联系收件人"
      scanhub workorder reply WO000001 "已为您补发，今日送达"
      scanhub workorder verify WO000001
      scanhub workorder reopen WO000001 --reason "客户仍未收到"
      scanhub workorder remind                       reminders and escalations now due (once each)
      scanhub workorder scan-auto --days 3           loss alerts, disputed signs, complaint voicemail
      scanhub workorder report --format html > sla.html
      scanhub workorder flow check my-flow.yaml
    """


def _out(res: dict, fmt: str, what: str) -> None:
    dl = f", due {_time(res['deadline_ms'])}" if res.get("deadline_ms") else ""
    done(res, f"{res['ticket']} {what}: {res['status']}, at {res['step']} ({res['step_name']}){dl}"
              + (f", assigned to {res['assignee']}" if res.get("assignee") else ""), fmt)


def _time(ms):
    from hub.business.localtime import format_ms
    return format_ms(ms)


@workorder.command("open")
@click.argument("kind", type=click.Choice(["complaint", "inquiry", "suggestion", "praise", "exception", "pickup"]))
@click.option("--subkind", default="", help="exception: lost, damaged, delayed, wrong_delivery; pickup: missed, late, other.")
@click.option("--content", default="", help="What the customer said.")
@click.option("--phone", default="", help="The customer's phone (any national form; kept in E.164).")
@click.option("--name", default="", help="The customer's name (the complaint form).")
@click.option("--gender", type=click.Choice(["", "male", "female", "other"]), default="", help="The customer's gender (the complaint form).")
@click.option("--address", default="", help="The customer's address (the complaint form).")
@click.option("--email", default="", help="The customer's e-mail address (notices and replies go there).")
@click.option("--waybill", default="", help="The parcel it is about (routes the order to its site).")
@click.option("--call", "call_id", default="", help="The call's id (its recording is linked).")
@click.option("--recording", default="", help="A recording file, when not found by --call.")
@click.option("--customer", "customer_id", default="", help="The CRM customer id, when known.")
@click.option("--by", "opened_by", default="", help="The agent who opens it (gets the feedback).")
@click.option("--notify-sms", is_flag=True, help="Tell the customer of each step by SMS.")
@click.option("--notify-email", is_flag=True, help="Tell the customer of each step by e-mail.")
@click.option("--no-route", is_flag=True, help="Leave it at the assign step instead of assigning by the rules.")
@json_option
@db_option
@with_store
def wo_open(kind, subkind, content, phone, name, gender, address, email, waybill, call_id, recording, customer_id,
            opened_by, notify_sms, notify_email, no_route, fmt):
    """Open a work order of KIND; an agent's order is accepted and routed by the flow's rules."""
    from hub.crm.workorders.orders import open_work_order
    res = open_work_order(kind, subkind=subkind, content=content, phone=phone, name=name, gender=gender,
                          address=address, email=email, waybill=waybill, call_id=call_id, recording=recording,
                          customer_id=customer_id, opened_by=opened_by, notify_sms=notify_sms,
                          notify_email=notify_email, route=not no_route)
    _out(res, fmt, "opened")


@workorder.command("show")
@click.argument("ticket")
@json_option
@db_option
@with_store
def wo_show(ticket, fmt):
    """An order with its events and its e-mail thread."""
    from hub.cli.common import echo_json
    from hub.crm.workorders.orders import show
    o = show(ticket)
    if fmt == "json":
        echo_json(o)
        return
    _out(o, "text", o["kind"] + (f"/{o['subkind']}" if o["subkind"] else ""))
    for k in ("name", "gender", "phone", "email", "address", "waybill", "recording", "content"):
        if o.get(k):
            click.echo(f"  {k}: {o[k]}")
    for e in o["events"]:
        click.echo(f"  {_time(e['at_ms'])}  {e['action']:<8} {e['step']:<7} {e['actor']}  {e['text']}")
    for m in o["mail"]:
        click.echo(f"  mail {m['direction']} {_time(m['created_ms'])} {m['sender']}: {m['subject']}")


@workorder.command("list")
@click.option("--status", type=click.Choice(["open", "closed"]), help="Only open or only closed orders.")
@click.option("--kind", help="Only orders of this kind (complaint, inquiry, …).")
@click.option("--assignee", help="site:CODE or department:NAME.")
@click.option("--phone", help="Only the orders of this phone number (any national form).")
@click.option("--waybill", help="Only the orders about this parcel.")
@click.option("--overdue", is_flag=True, help="Only open orders past their step's deadline.")
@format_option
@db_option
@with_store
def wo_list(status, kind, assignee, phone, waybill, overdue, fmt):
    """Orders, newest first."""
    from contract.clock import now_ms
    from hub.crm.workorders.orders import listing
    rows = listing(status=status, kind=kind, assignee=assignee, phone=phone, waybill=waybill,
                   overdue_at=now_ms() if overdue else None)
    emit(rows, fmt, "work orders", totals=False)


def _simple(name, fn_name, help_text, text_arg=None, required_note=False):
    @click.argument("ticket")
    @click.option("--note", default="", required=required_note, help="What was done (kept with the order).")
    @click.option("--by", "actor", default="", help="Who did it.")
    @json_option
    @db_option
    @with_store
    def cmd(ticket, note, actor, fmt):
        from hub.crm.workorders import orders
        _out(getattr(orders, fn_name)(ticket, note, actor=actor), fmt, name)
    cmd.__doc__ = help_text
    workorder.command(name)(cmd)


_simple("step", "step", "End the order's current step and go to the next (assign routes by the rules).")
_simple("handle", "handle", "The responsible site or department reports what it did (ends handle).", required_note=True)
_simple("close", "close", "Close an order early, whatever its step (a duplicate, solved on the phone).", required_note=True)


@workorder.command("assign")
@click.argument("ticket")
@click.option("--to", help="site:CODE or department:NAME; without it the flow's rules decide.")
@click.option("--by", "actor", default="", help="Who did it (staff code or name).")
@json_option
@db_option
@with_store
def wo_assign(ticket, to, actor, fmt):
    """Assign an order (or reassign one being handled)."""
    from hub.crm.workorders.orders import assign
    _out(assign(ticket, to, actor=actor), fmt, "assigned")


@workorder.command("reply")
@click.argument("ticket")
@click.argument("text")
@click.option("--by", "actor", default="", help="Who did it (staff code or name).")
@json_option
@db_option
@with_store
def wo_reply(ticket, text, actor, fmt):
    """The answer to the customer (by e-mail when the order has an address)."""
    from hub.crm.workorders.orders import reply
    _out(reply(ticket, text, actor=actor), fmt, "answered")


@workorder.command("verify")
@click.argument("ticket")
@click.option("--note", default="", help="What the customer said (kept with the order).")
@click.option("--not-satisfied", is_flag=True, help="The customer is not satisfied: back to handle.")
@click.option("--by", "actor", default="", help="Who did it (staff code or name).")
@json_option
@db_option
@with_store
def wo_verify(ticket, note, not_satisfied, actor, fmt):
    """The call center's check with the customer: satisfied closes the order."""
    from hub.crm.workorders.orders import verify
    _out(verify(ticket, note, actor=actor, satisfied=not not_satisfied), fmt, "verified")


@workorder.command("reopen")
@click.argument("ticket")
@click.option("--reason", required=True, help="Why it is reopened (kept with the order).")
@click.option("--by", "actor", default="", help="Who did it (staff code or name).")
@json_option
@db_option
@with_store
def wo_reopen(ticket, reason, actor, fmt):
    """Reopen a closed order: back to handle, with a new deadline."""
    from hub.crm.workorders.orders import reopen
    _out(reopen(ticket, reason, actor=actor), fmt, "reopened")


@workorder.command("status")
@click.argument("ticket")
@json_option
@db_option
@with_store
def wo_status(ticket, fmt):
    """What the customer hears: the step in words and its deadline."""
    from hub.crm.workorders.orders import WorkOrderError, customer_status
    s = customer_status(ticket)
    if s is None:
        raise WorkOrderError(f"no work order {ticket!r}")
    done(s, f"{s['ticket']}: {s['step_name']}" + (f", 预计{_time(s['deadline_ms'])}前" if s["deadline_ms"] else ""), fmt)


@workorder.command("feedback")
@click.argument("agent")
@click.option("--since", help="YYYY-MM-DD[THH:MM] or epoch ms.")
@format_option
@db_option
@with_store
def wo_feedback(agent, since, fmt):
    """What happened to the orders AGENT opened (results back to the call center)."""
    from hub.crm.workorders.orders import feedback
    emit(feedback(agent, parse_when(since)), fmt, f"work-order feedback for {agent}", totals=False)


@workorder.command("remind")
@format_option
@db_option
@with_store
def wo_remind(fmt):
    """Record the reminders and escalations due now; each fires once (run it every few minutes)."""
    from hub.crm.workorders.orders import remind
    emit(remind(), fmt, "reminders and escalations", totals=False)


@workorder.command("scan-auto")
@click.option("--days", default=3, show_default=True, type=click.IntRange(0, 365),
              help="A dispatched parcel this many days past its expected arrival is a loss alert.")
@click.option("--box", "boxes", multiple=True, default=("complaints", "complaint"), show_default=True,
              help="IVR voicemail boxes whose messages are complaints.")
@json_option
@db_option
@with_store
def wo_scan_auto(days, boxes, fmt):
    """Open the orders the hub's facts call for: loss alerts, disputed signs, complaint voicemail.
    Idempotent: an order is opened once per fact."""
    from hub.crm.workorders.auto import scan_auto
    res = scan_auto(days=days, boxes=tuple(boxes))
    done(res, ", ".join(f"{k}: {len(v)} opened" for k, v in res.items()), fmt)


@workorder.command("report")
@click.option("--since", help="Orders opened from this time: YYYY-MM-DD[THH:MM] or epoch ms.")
@click.option("--until", help="Orders opened before this time.")
@format_option
@db_option
@with_store
def wo_report(since, until, fmt):
    """SLA figures per responsible site or department and kind (html and pdf with a chart)."""
    from hub.cli.charts import Chart
    from hub.crm.workorders.sla import figures
    s, u = parse_when(since), parse_when(until)
    rows = figures(s, u)
    series: dict[str, list] = {}
    for r in rows:
        series.setdefault(r["kind"], []).append((r["assignee"], r["breaches"]))
    chart = Chart("bar", "SLA breaches per site or department", series, ylabel="breaches", legend="kind")
    emit(rows, fmt, "work-order SLA", window=window_text(s, u), chart=chart, totals=False)


@workorder.group("flow")
def wo_flow():
    """The flow file: steps, deadlines, calendars, rules (docs/crm.md)."""


@wo_flow.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def wo_flow_check(path):
    """Check a flow file; every problem with its line."""
    from hub.crm.workorders.flow import load_flow
    f = load_flow(path)
    click.echo(f"{path}: flow {f.name} is fine: {' → '.join(f.steps)}, {len(f.rules)} rule(s), "
               f"calendars {', '.join(f.calendars)}")


@wo_flow.command("use")
@click.argument("path", type=click.Path(dir_okay=False))
@db_option
@with_store
def wo_flow_use(path):
    """Put a flow file in force (checked first)."""
    from hub.crm.workorders.orders import use_flow
    f = use_flow(path)
    click.echo(f"flow {f.name} from {path} in force")
