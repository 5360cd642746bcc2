"""SMS templates: text with ``{variable}`` fields, filled from the parcel or the customer.

A field is a plain name in braces (``{waybill}``); ``{{`` and ``}}`` are literal braces.  Filling
a template with a variable missing is an error that names it; extra variables are ignored.
``{network}`` (the network's name, from its network file) is always there.  The built-in
templates can be changed (``scanhub sms templates --set``) and new ones added.
"""
from __future__ import annotations

import string
import time

from hub.errors import HubError
from hub.sms.tables import SmsTemplate

BUILTIN = {
    "order_confirmation": ("【{network}】您的订单{order_no}已受理，我们将尽快安排上门取件。",
                           "an order was accepted"),
    "pickup_reminder": ("【{network}】快递员{courier}将于{time}上门取件，请备好包裹。", "before a pickup"),
    "delivery_reminder": ("【{network}】您的快件{waybill}正在派送，派送员{courier}，电话{courier_phone}。",
                          "out for delivery"),
    "arrival_notice": ("【{network}】您的快件{waybill}已到达{site_name}，请留意派送或前往网点领取。",
                       "arrival at the destination site (sent by the hub on the arrival scan)"),
    "delivery_exception": ("【{network}】您的快件{waybill}派送异常：{reason}。如有疑问请致电{hotline}。",
                           "a delivery problem"),
    "work_order_step": ("【{network}】您的工单{ticket}已进入“{step}”环节，预计{deadline}前处理完毕。",
                        "a work order moved to its next step"),
    "settlement_notice": ("【{network}】网点{site_name}预付款余额{balance}元，低于{threshold}元将暂停收件，请及时结算。",
                          "a prepaid site is close to being blocked"),
    "greeting": ("【{network}】{name}您好，{occasion}快乐！感谢您一直以来的支持。", "holiday and care greetings"),
}


class TemplateError(HubError, ValueError):
    """An unknown template, a malformed one, or a variable missing when filling it."""


def fields(body: str) -> list[str]:
    """The variable names of ``body``, in order; :class:`TemplateError` when it is malformed."""
    out = []
    try:
        parsed = list(string.Formatter().parse(body))
    except ValueError as e:
        raise TemplateError(f"malformed template ({e}; write {{{{ and }}}} for literal braces)") from None
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise TemplateError(f"template field {{{name}}} must be a plain name like {{waybill}}")
        if name not in out:
            out.append(name)
    return out


def fill(body: str, variables: dict) -> str:
    missing = [f for f in fields(body) if f not in variables or variables[f] is None]
    if missing:
        raise TemplateError(f"missing variable(s) for the template: {', '.join(missing)}")
    return body.format_map({k: str(v) for k, v in variables.items()})


def ensure_builtin() -> None:
    if SmsTemplate.select().where(SmsTemplate.builtin == True).count() >= len(BUILTIN):  # noqa: E712
        return
    now = time.time_ns() // 1_000_000
    SmsTemplate.insert_many([{"name": n, "body": b, "description": d, "builtin": True, "updated_ms": now}
                             for n, (b, d) in BUILTIN.items()]).on_conflict_ignore().execute()


def get(name: str) -> SmsTemplate:
    ensure_builtin()
    t = SmsTemplate.get_or_none(SmsTemplate.name == name)
    if t is None:
        known = ", ".join(r.name for r in SmsTemplate.select().order_by(SmsTemplate.name))
        raise TemplateError(f"no template {name!r} (known: {known})")
    return t


def set_template(name: str, body: str, description: str | None = None) -> None:
    if not name or len(name) > 48 or not all(c.isalnum() or c in "_-" for c in name):
        raise TemplateError(f"bad template name {name!r} (letters, digits, _ and -, at most 48)")
    if not body.strip():
        raise TemplateError("a template needs text")
    fields(body)
    ensure_builtin()
    now = time.time_ns() // 1_000_000
    row = {"name": name, "body": body, "builtin": name in BUILTIN, "updated_ms": now,
           "description": description if description is not None else BUILTIN.get(name, ("", ""))[1]}
    update = {SmsTemplate.body: body, SmsTemplate.updated_ms: now}
    if description is not None:
        update[SmsTemplate.description] = description
    SmsTemplate.insert(row).on_conflict(conflict_target=[SmsTemplate.name], update=update).execute()


def listing() -> list[dict]:
    ensure_builtin()
    return [{"name": t.name, "body": t.body, "variables": ", ".join(fields(t.body)), "description": t.description,
             "builtin": t.builtin} for t in SmsTemplate.select().order_by(SmsTemplate.name)]
