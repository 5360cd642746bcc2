"""The call center in a real browser against a real PBX: an agent logs in on the desk and goes
ready (the PBX carries the request out), a SIPp caller from a known customer's number reaches the
queue and rings the agent's SIPp seat, the screen pop shows the customer's parcels while it
rings, the agent opens a complaint from the pop, the site user sees it, and the supervisor's
wallboard follows the call live; the supervisor listens in from their own seat with the
wallboard's button (the PBX calls that seat and joins it to the call as a listener).

With ``SCANHUB_PICTURES=<folder>`` the screenshots are saved there (docs/pictures/web-*.png)."""
from __future__ import annotations

import time

from conftest import sample_store, wait_for, wb
from sip_peers import Sipp, free_udp_port
from test_callflow_queue import media_ports
from test_telephony_sip import PASSWORD, cdrs, pbx, register, target  # noqa: F401 - the pbx fixture
from test_web_browser import browser, log_in, shot, web_console  # noqa: F401 - the browser fixture
from web_helpers import commit_two_parcels, make_users

PHONE = "13912345678"              # the number tests/data/sipp/caller.xml calls from
RING_MS = 2500                     # the seat rings this long before it answers
QUEUES = {"agents": [{"id": "agent"}],
          "queues": [{"name": "service", "strategy": "leastrecent", "ring_timeout_s": 15, "retry_s": 0,
                      "members": [{"agent": "agent"}]}]}


def seat_scenario(tmp_path) -> str:
    text = open(__file__.replace("test_web_callcenter.py", "data/sipp/seat.xml")).read()
    text = text.replace('<pause milliseconds="200"/>', f'<pause milliseconds="{RING_MS}"/>')
    path = tmp_path / "slow_seat.xml"
    path.write_text(text)
    return str(path)


def known_customer() -> None:
    from contract.clock import now_ms
    from hub.business.tables import PlatformOrder
    from hub.crm import customers as cu
    cu.add({"name": "王芳", "category": "sender"}, actor="t", phones=[PHONE])
    PlatformOrder.create(order_no="TB-77", platform="taobao", sender="王芳", phone=PHONE, accept="accepted",
                         waybill=wb(1), imported_ms=now_ms())


def test_a_call_pops_the_customer_on_the_agents_desk(tmp_path, pbx, browser):  # noqa: F811
    from playwright.sync_api import expect
    from hub.acd.config import parse_queues
    from hub.callflow.apps import install
    db = sample_store(str(tmp_path / "hub.db"))
    make_users()
    commit_two_parcels()
    known_customer()
    trunk_port = free_udp_port()
    p = pbx(trunk_port, dialplan=[{"number": "95311", "to": "queue service"}, {"number": "8002", "to": "seat 8002"}],
            recording={"default": True})
    from hub.acd import qa
    qa.save_form(qa.form_from({"name": "inbound", "weights": {"greeting": 0.2, "accuracy": 0.5, "empathy": 0.3}}))
    seat_port = register(tmp_path, p, "8001", PASSWORD)
    sup_port = register(tmp_path, p, "8002", "pw-8002")
    events = []
    p.switch.listeners.append(lambda call, ev: events.append((ev.kind, dict(ev.data))))
    install(p, {}, parse_queues(QUEUES), queue_log=str(tmp_path / "queue_log"))
    with web_console(db) as url:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        desk = ctx.new_page()
        log_in(desk, url, "agent")
        desk.goto(url + "/agent")
        expect(desk.locator("#agent-state")).to_have_text("logged-out")
        desk.fill("input[name=seat]", "8001")
        desk.click("button[value=login]")
        expect(desk.locator("#agent-state")).to_have_text("ready", timeout=10_000)
        assert p.snapshot()["calls"] == []

        board = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        log_in(board, url, "sup")
        board.goto(url + "/wallboard")
        expect(board.locator("#agents")).to_contain_text("ready")

        seat = Sipp(tmp_path, seat_scenario(tmp_path), target(p), port=seat_port,
                    args=["-m", "1", "-mp", media_ports()]).listening()
        caller = Sipp(tmp_path, "caller.xml", target(p), port=trunk_port,
                      args=["-s", "95311", "-d", "12000", "-m", "1", "-mp", media_ports()]).start()
        sup_phone = Sipp(tmp_path, "seat.xml", target(p), port=sup_port, args=["-m", "1", "-mp", media_ports()],
                         name="supervisor").listening()
        # the pop shows while the seat still rings (it answers RING_MS after the ring)
        expect(desk.locator("#on-call")).to_contain_text("Ringing", timeout=10_000)
        expect(desk.locator("#pop-parcels")).to_contain_text(wb(1), timeout=RING_MS)
        expect(desk.locator("#pop-customers")).to_contain_text("王芳")
        expect(board.locator("#agents")).to_contain_text("ringing", timeout=5_000)
        shot(desk, tmp_path, "web-agent-desk")
        expect(desk.locator("#agent-state")).to_have_text("talking", timeout=10_000)
        expect(board.locator("#agents")).to_contain_text("talking", timeout=5_000)
        shot(board, tmp_path, "web-wallboard")
        board.fill("#supervise input[name=seat]", "8002")
        board.click("#agents button.sup-listen")
        expect(board.locator("#supervising")).to_contain_text("listen on call")
        wait_for(lambda: ("supervise", {"mode": "listen"}) in events, 10,
                 "the supervisor's seat answered and joined the call as a listener")

        desk.select_option("#open-workorder select[name=waybill]", wb(1))
        desk.fill("#open-workorder textarea[name=content]", "包裹三天没有动，客户要求今天送达")
        desk.click("#open-workorder button[type=submit]")
        expect(desk.locator("#order")).to_contain_text("site:100")
        ticket = desk.url.rsplit("/", 1)[1]

        site = browser.new_context(viewport={"width": 1400, "height": 800}).new_page()
        log_in(site, url, "lin")
        site.goto(url + "/workorders")
        expect(site.locator("#workorders")).to_contain_text(ticket)
        site.click(f"text={ticket}")
        site.fill("#act textarea[name=text]", "已联系快递员，今天下午送达")
        site.click("#act button[value=reply]")
        expect(site.locator("#history")).to_contain_text("已联系快递员")
        shot(site, tmp_path, "web-site-workorder")

        caller.expect_success(60)
        seat.expect_success(60)
        sup_phone.expect_success(60)
        wait_for(lambda: len(cdrs()) == 1, 30, "the CDR")
        row = board.locator("#queues tr", has_text="service")
        expect(row.locator("td.offered")).to_have_text("1", timeout=10_000)
        expect(board.locator("#agents")).to_contain_text("ready", timeout=10_000)
        from hub.crm.workorders import orders
        o = orders.show(ticket)
        assert o["call_id"] and o["phone"] == "+86" + PHONE and o["step"] == "verify"

        # QA scores the recorded call
        from hub.telephony.cdr import recordings
        wait_for(lambda: recordings(), 10, "the call's recording")
        quality = browser.new_context(viewport={"width": 1400, "height": 700}).new_page()
        log_in(quality, url, "qa")
        quality.goto(url + "/qa")
        row = quality.locator("#recordings tr", has_text=o["call_id"])
        expect(row).to_contain_text("agent")
        for k, v in (("greeting", "90"), ("accuracy", "80"), ("empathy", "70")):
            row.locator(f"input[name='c.{k}']").fill(v)
        row.locator("button[type=submit]").click()
        expect(quality.locator("#qa-results")).to_contain_text("79.0")      # 0.2×90 + 0.5×80 + 0.3×70
        shot(quality, tmp_path, "web-qa")
        ctx.close()
    deadline = time.monotonic() + 10
    while p.snapshot()["calls"] and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_chat_from_the_public_page_is_routed_like_a_call(tmp_path, pbx, browser):  # noqa: F811
    """A customer chats from the public page; the chat waits in the ACD queue ``chat``, rings the
    agent's desk, is accepted, answered (a standard phrase in one click), turned into a work
    order with its transcript, and ended; the queue log counts it like a call."""
    from playwright.sync_api import expect
    from hub.acd import kpi
    from hub.acd import store as qstore
    from hub.acd.config import parse_queues
    from hub.callflow.apps import install
    from hub.kb import articles
    db = sample_store(str(tmp_path / "hub.db"))
    make_users()
    commit_two_parcels()
    known_customer()
    articles.add_phrase("greeting", "您好，很高兴为您服务，请问有什么可以帮您？")
    p = pbx(free_udp_port(), dialplan=[{"number": "95311", "to": "queue chat"}])
    queues = {"agents": [{"id": "agent"}],
              "queues": [{"name": "chat", "ring_timeout_s": 30, "retry_s": 0, "members": [{"agent": "agent"}]}]}
    apps = install(p, {}, parse_queues(queues), queue_log=str(tmp_path / "queue_log"))
    with web_console(db) as url:
        desk = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        log_in(desk, url, "agent")
        desk.goto(url + "/agent")
        desk.click("button[value=login]")
        expect(desk.locator("#agent-state")).to_have_text("ready", timeout=10_000)

        customer = browser.new_context(viewport={"width": 900, "height": 800}).new_page()
        customer.goto(url + "/chat")
        customer.fill("input[name=name]", "王芳")
        customer.fill("input[name=phone]", PHONE)
        customer.fill("textarea[name=text]", "我的包裹三天没动了")
        customer.click("#chat-start button[type=submit]")
        expect(customer.locator("#chat-state")).to_have_text("Waiting for an agent…")

        expect(desk.locator("#on-call")).to_contain_text("Chat waiting for you", timeout=10_000)
        expect(desk.locator("#pop-parcels")).to_contain_text(wb(1), timeout=5_000)
        desk.click("#chat-accept button")
        expect(desk.locator("#agent-state")).to_have_text("talking", timeout=10_000)
        expect(customer.locator("#chat-state")).to_have_text("An agent is with you.", timeout=5_000)
        desk.click("#chat-phrases button")                             # one click: the standard phrase
        expect(customer.locator("#messages")).to_contain_text("很高兴为您服务", timeout=5_000)
        customer.fill("#chat-say input[name=text]", "单号是 " + wb(1))
        customer.click("#chat-say button")
        expect(desk.locator("#chat #messages")).to_contain_text("单号是", timeout=5_000)
        shot(desk, tmp_path, "web-agent-chat")
        shot(customer, tmp_path, "web-chat")

        desk.fill("#open-workorder textarea[name=content]", "在线客服：包裹三天未更新")
        desk.click("#open-workorder button[type=submit]")
        expect(desk.locator("#transcript")).to_contain_text("单号是")     # the chat is kept with the order
        desk.goto(url + "/agent")
        desk.click("#chat-reply button[value=end]")
        expect(customer.locator("#chat-state")).to_have_text("The chat has ended.", timeout=5_000)
        expect(desk.locator("#agent-state")).not_to_have_text("talking", timeout=10_000)

    rows = [r for r in kpi.call_waits(qstore.entries()) if r["queue"] == "chat"]
    assert len(rows) == 1 and rows[0]["outcome"] == "answered" and rows[0]["talk_ms"] is not None, rows
    (k,) = [k for k in kpi.queue_kpis(qstore.entries()) if k["group"] == "chat"]
    assert (k["offered"], k["answered"]) == (1, 1)
    assert p.call(lambda: apps.acd.engine.check()) == [] and p.call(lambda: sorted(apps.acd.chats)) == []
