"""Self-service over the hub's truth: what the engine's ``service`` nodes answer.

``HubServices`` (the store must be bound) runs:

* ``track`` (reads ``waybill``): ``hub.business.tracking.track`` — the answer of ``scanhub track`` —
  read as: the status, the site it is at (and, in transit, the next site), and when it was signed.
* ``quote`` (reads ``origin``, ``dest``: telephone area codes, district codes or site codes; ``weight``: whole
  kilograms): the total of ``hub.business.quote.quote`` — the answer of ``scanhub quote`` — from
  the tariff in force now between the two sites; sets ``quote_cents``.
* ``nearest_site`` (reads ``area``: an area code, with or without its leading 0, or a
  six-digit district code): the site that carries it
  (a site before a center, then the lowest code); sets ``site``.
* ``authenticate`` (reads ``caller`` and ``pin``): the caller directory's PIN check; sets
  ``customer``.  ``my_orders`` (reads ``customer``): up to ``MAX_ORDERS_READ`` orders, newest
  first, each as the last four digits of its waybill (or order number) and its status.
* ``pickup_order`` (reads ``caller``, ``area``: a six-digit district code or a telephone area
  code, ``parcels``): records a telephone pickup order (``hub.business.pickup.add``) from the
  caller's number for the next ``PICKUP_WINDOW_H`` hours, at the site whose coverage holds the
  district (else the area's nearest site); the caller then says the exact address into voicemail
  box ``pickup``, which the task's note names.  Sets ``pickup_code``; reads its digits back.

Every prompt id they answer with is in ``PROMPTS`` (fixed texts) or is ``site/<code>`` (the site's
name, made by ``scanhub ivr prompts --db``), or one of ``hub.ivr.say``'s.
"""
from __future__ import annotations

from collections.abc import Callable

from hub.business.context import load_context
from hub.business.quote import QuoteError, quote
from hub.business.tariff import TariffBook, TariffError
from hub.business.tracking import track
from hub.ivr import say
from hub.ivr.directory import CallerDirectory, HubDirectory
from hub.ivr.engine import ServiceResult, Services, _wall_ms
from hub.network import tables as net

MAX_ORDERS_READ = 3
PICKUP_WINDOW_H = 4
PICKUP_BOX = "pickup"
STATUS_PROMPT = {"receive": "status/receive", "dispatch": "status/dispatch", "arrive": "status/arrive",
                 "deliver": "status/deliver", "sign": "status/sign", "problem": "status/problem",
                 "hold": "status/hold"}
PROMPTS = {
    "status/receive": "已收件", "status/dispatch": "已发出，正在运输途中", "status/arrive": "已到达",
    "status/deliver": "正在派送", "status/sign": "已签收", "status/problem": "遇到问题，正在处理",
    "status/hold": "暂时留仓", "status/deleted": "扫描记录已撤销", "status/pending": "尚未揽收",
    "track/intro": "您查询的快件", "track/at": "目前在", "track/next": "下一站", "track/signed_at": "签收时间",
    "track/not_found": "没有查到这个运单号，请核对后再试",
    "quote/intro": "参考运费", "quote/none": "抱歉，暂时无法报价，请转人工服务",
    "site/intro": "离您最近的网点是", "site/none": "抱歉，没有找到这个地区的网点",
    "auth/ok": "身份验证成功", "auth/failed": "验证失败",
    "orders/none": "您没有订单记录", "orders/order": "尾号",
    "pickup/ok": "您的取件预约已登记，预约号是", "pickup/none": "抱歉，无法为这个地区预约取件",
}


def site_prompt(code: str) -> str:
    return f"site/{code}"


class HubServices(Services):
    def __init__(self, directory: CallerDirectory | None = None, clock: Callable[[], int] | None = None):
        self.directory = directory or HubDirectory()
        self.clock = clock or _wall_ms

    def run(self, name: str, variables: dict[str, str], tz_offset_min: int) -> ServiceResult:
        return getattr(self, "_" + name)(variables, tz_offset_min)

    # --------------------------------------------------------------- track
    def _track(self, v, tz) -> ServiceResult:
        wb = v.get("waybill", "")
        t = track(wb) if wb else None
        if t is None:
            return ServiceResult("fail", ["track/not_found"], detail={"waybill": wb, "found": False})
        return ServiceResult("ok", track_prompts(t, tz), detail={"waybill": wb, "status": t["status"],
                                                                 "site": t["site"]})

    # --------------------------------------------------------------- quote
    def _site(self, code: str) -> str | None:
        """The site for an area code, a district or a site code."""
        found = nearest_site(code) if code else None
        if found is None and code and net.Site.get_or_none(net.Site.code == code) is not None:
            found = code
        return found

    def _quote(self, v, tz) -> ServiceResult:
        origin, dest, kg = v.get("origin", ""), v.get("dest", ""), v.get("weight", "")
        detail = {"origin": origin, "dest": dest, "weight_kg": kg}
        a, b = self._site(origin), self._site(dest)
        tariff = TariffBook.load().at(self.clock())
        if a is None or b is None or tariff is None or not kg.isdigit() or int(kg) <= 0:
            return ServiceResult("fail", ["quote/none"], detail=dict(detail, reason="unknown place, weight or no tariff"))
        try:
            q = quote(load_context(), tariff, a, b, int(kg) * 1000)
        except (QuoteError, TariffError) as e:
            return ServiceResult("fail", ["quote/none"], detail=dict(detail, reason=str(e)))
        cents = q["total_cents"]
        return ServiceResult("ok", ["quote/intro"] + say.amount(cents), {"quote_cents": str(cents)},
                             detail=dict(detail, origin_site=a, dest_site=b, tariff=tariff.name, cents=cents,
                                         chargeable_g=q["chargeable_g"]))

    # --------------------------------------------------------------- nearest site
    def _nearest_site(self, v, tz) -> ServiceResult:
        code = nearest_site(v.get("area", ""))
        if code is None:
            return ServiceResult("fail", ["site/none"], detail={"area": v.get("area", "")})
        return ServiceResult("ok", ["site/intro", site_prompt(code)], {"site": code},
                             detail={"area": v.get("area", ""), "site": code})

    # --------------------------------------------------------------- caller directory
    def _authenticate(self, v, tz) -> ServiceResult:
        for c in self.directory.customers(v.get("caller", "")):
            if self.directory.check_pin(c.id, v.get("pin", "")):
                return ServiceResult("ok", ["auth/ok"], {"customer": c.id}, detail={"customer": c.id})
        return ServiceResult("fail", ["auth/failed"], detail={"customer": None})

    def _my_orders(self, v, tz) -> ServiceResult:
        cid = v.get("customer", "")
        orders = self.directory.orders(cid) if cid else []
        if not orders:
            return ServiceResult("fail", ["orders/none"], detail={"orders": 0})
        prompts: list[str] = []
        for o in sorted(orders, key=lambda o: o.order_no, reverse=True)[:MAX_ORDERS_READ]:
            prompts += ["orders/order"] + say.digits((o.waybill or o.order_no)[-4:])
            prompts.append(STATUS_PROMPT.get(o.kind or "", "status/pending"))
        return ServiceResult("ok", prompts, detail={"orders": len(orders)})

    # --------------------------------------------------------------- pickup order
    def _pickup_order(self, v, tz) -> ServiceResult:
        from hub.business import pickup as pk
        from hub.business.orders import place
        area, caller, n = v.get("area", "").strip(), v.get("caller", ""), v.get("parcels", "").strip() or "1"
        detail = {"area": area, "caller": caller, "parcels": n}
        if not n.isdigit() or not 1 <= int(n) <= 999:
            return ServiceResult("fail", ["pickup/none"], detail=dict(detail, reason="bad number of parcels"))
        codes = {}
        site = None
        if len(area) == 6 and area.isdigit() and not area.startswith("0"):       # a district code
            codes = {"province": area[:2], "city": area[:4] if area[2:4] != "00" else "",
                     "district": area if area[4:] != "00" else ""}
            site = place("", **codes)[0]
        site = site or nearest_site(area)
        if site is None:
            return ServiceResult("fail", ["pickup/none"], detail=dict(detail, reason="no site for the area"))
        now = self.clock()
        try:
            t = pk.add(address=f"telephone order, area {area}", phone=caller, parcels=int(n), window_from_ms=now,
                       window_to_ms=now + PICKUP_WINDOW_H * 3_600_000, site=site, source="ivr", created_by="ivr",
                       note=f"exact address: voicemail box {PICKUP_BOX} from {caller}", **codes)
        except pk.PickupError as e:
            return ServiceResult("fail", ["pickup/none"], detail=dict(detail, reason=str(e)))
        return ServiceResult("ok", ["pickup/ok"] + say.digits(t["code"][2:]), {"pickup_code": t["code"]},
                             detail=dict(detail, code=t["code"], site=site))


def track_prompts(t: dict, tz_offset_min: int) -> list[str]:
    """``scanhub track``'s answer (``hub.business.tracking.track``) read as prompts."""
    if t["status"] == "deleted":
        return ["track/intro", "status/deleted"]
    out = ["track/intro", STATUS_PROMPT.get(t["kind"], "status/problem")]
    if t["kind"] != "sign" and t["site"]:
        out += ["track/at", site_prompt(t["site"])]
        if t["kind"] == "dispatch" and t.get("next_site"):
            out += ["track/next", site_prompt(t["next_site"])]
    if t["kind"] == "sign":
        sign = [e for e in t["events"] if e["kind"] == "sign" and not e.get("deleted")][-1]
        out += ["track/signed_at"] + say.time(sign["event_ms"], tz_offset_min)
    return out


def nearest_site(area: str) -> str | None:
    """The site for an area code or a district code (a site before a center, then the lowest code)."""
    area = str(area or "").strip()
    if not area:
        return None
    if len(area) == 6 and not area.startswith("0"):       # a district code (330106)
        area_q = (net.Site.district == area)
    else:
        area_q = (net.Site.area_code == area) | (net.Site.area_code == "0" + area)
    s = net.Site.select().where(area_q).order_by(net.Site.kind.desc(), net.Site.code).first()
    return None if s is None else s.code
