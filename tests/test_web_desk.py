"""The call center's pages over a real store: work orders as each role sees them (site staff only
their own site's, by list and by id), the agent desk's state requests carried out by the real
ACD engine through the store, the screen pop of a known customer, the knowledge base search with
its marks, and the wallboard from the queue log and the engine's snapshot."""
from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from conftest import wb
from web_helpers import commit_two_parcels, console, csrf_of, log_in  # noqa: F401

PHONE = "13912345678"


@pytest.fixture
def app(tmp_path):
    a, _ = console(tmp_path)
    return a


def client(app, name: str) -> TestClient:
    c = TestClient(app)
    r = log_in(c, name)
    assert r.status_code == 303, r.text
    return c


def post(c: TestClient, path: str, data: dict, page: str | None = None):
    token = csrf_of(c.get(page or path).text)
    return c.post(path, data={**data, "csrf": token}, follow_redirects=False)


def known_customer() -> int:
    from contract.clock import now_ms
    from hub.business.tables import PlatformOrder
    from hub.crm import customers as cu
    c = cu.add({"name": "王芳 <script>alert(1)</script>", "category": "sender"}, actor="t", phones=[PHONE])
    PlatformOrder.create(order_no="TB-77", platform="taobao", sender="王芳", phone=PHONE, accept="accepted",
                         waybill=wb(1), imported_ms=now_ms())
    return c["id"]


def open_complaint(c: TestClient) -> str:
    r = post(c, "/workorders", {"kind": "complaint", "content": "包裹三天没动 <b>bold</b>", "phone": PHONE,
                                "waybill": wb(1), "name": "王芳"}, page="/workorders")
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def test_a_complaint_reaches_its_site_and_only_that_site(app):
    agent, lin, sun = client(app, "agent"), client(app, "lin"), client(app, "sun")
    ticket = open_complaint(agent)
    page = agent.get(f"/workorders/{ticket}").text
    assert "site:100" in page                     # wb(1) is held at site 100: the rules route it there
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert ticket in lin.get("/workorders").text
    assert ticket not in sun.get("/workorders").text
    assert sun.get(f"/workorders/{ticket}").status_code == 404
    r = post(sun, f"/workorders/{ticket}", {"action": "handle", "text": "not mine"}, page="/workorders")
    assert r.status_code == 404
    # site staff may not verify for the call center, nor open orders
    r = post(lin, f"/workorders/{ticket}", {"action": "verify", "text": "I say so"})
    assert r.status_code == 403
    r = post(lin, "/workorders", {"kind": "complaint", "content": "x"}, page="/workorders")
    assert r.status_code == 403
    # a forged form (no token, or another session's) is refused and changes nothing
    r = lin.post(f"/workorders/{ticket}", data={"action": "handle", "text": "forged",
                                                "csrf": csrf_of(sun.get("/workorders").text)})
    assert r.status_code == 403 and "forged" not in lin.get(f"/workorders/{ticket}").text
    r = post(lin, f"/workorders/{ticket}", {"action": "reply", "text": "已联系快递员，今天送达"})
    assert r.status_code == 303
    from hub.crm.workorders import orders
    o = orders.show(ticket)
    assert o["step"] == "verify" and any(e["text"] == "已联系快递员，今天送达" and e["actor"] == "lin"
                                          for e in o["events"])
    assert "已联系快递员" in lin.get(f"/workorders/{ticket}").text
    r = post(agent, f"/workorders/{ticket}", {"action": "verify", "text": "满意"})
    assert r.status_code == 303 and orders.show(ticket)["status"] == "closed"
    assert ticket in lin.get("/workorders?status=closed").text and ticket not in lin.get("/workorders").text
    # a bad request is explained on the page, the order unchanged
    r = post(agent, f"/workorders/{ticket}", {"action": "reopen", "text": ""})
    assert r.status_code == 400 and "reopening needs a reason" in r.text
    r = post(agent, "/workorders", {"kind": "gripe", "content": "x"}, page="/workorders")
    assert r.status_code == 400 and "unknown kind" in r.text
    assert client(app, "qa").get("/workorders").status_code == 403
    # site staff close their own orders, with a reason
    other = open_complaint(agent)
    r = post(lin, f"/workorders/{other}", {"action": "close", "text": ""})
    assert r.status_code == 400 and "needs a note" in r.text
    assert post(lin, f"/workorders/{other}", {"action": "close", "text": "重复工单"}).status_code == 303
    assert orders.show(other)["status"] == "closed"


def engine():
    from contract.clock import now_ms
    from hub.acd.config import parse_queues
    from hub.acd.engine import Engine
    centre = parse_queues({"agents": [{"id": "agent"}, {"id": "8002"}],
                           "queues": [{"name": "service", "members": [{"agent": "agent"}, {"agent": "8002"}]}]})
    from hub.acd import store as qstore
    return Engine(centre, now_ms, log=qstore.record)


def pbx_side(eng) -> None:
    """What the PBX's bridge thread does once: carry out the requests, write the snapshot."""
    from hub.acd import presence

    def run(command, agent, arg):
        getattr(eng, command)(*((agent, arg) if command in ("login", "pause") else (agent,)))
        return eng.agents[agent].snapshot()
    presence.carry_out(run)
    presence.publish(presence.snapshot_body(eng.snapshot()))


def test_state_buttons_go_through_the_store_to_the_engine(app):
    from hub.acd import presence
    desk = client(app, "agent")
    page = desk.get("/agent").text
    assert "No PBX is running the queues" in page and 'id="agent-state" class="st-logged-out"' in page
    r = post(desk, "/agent/state", {"command": "login", "seat": "8001"}, page="/agent")
    assert r.status_code == 303
    assert "waiting for the PBX" in desk.get(r.headers["location"]).text
    eng = engine()
    pbx_side(eng)
    assert eng.agents["agent"].state == "ready" and eng.agents["agent"].seat == "8001"
    page = desk.get(r.headers["location"]).text
    assert 'class="st-ready">ready<' in page and "seat 8001" in page
    post(desk, "/agent/state", {"command": "pause", "code": "lunch"}, page="/agent")
    pbx_side(eng)
    assert eng.agents["agent"].state == "paused" and eng.agents["agent"].pause_code == "lunch"
    assert "(lunch)" in desk.get("/agent").text
    # a request the engine refuses is explained; an unknown command never reaches it
    sup = client(app, "sup")
    r = post(sup, "/agent/state", {"command": "ready"}, page="/agent")
    pbx_side(eng)
    assert "unknown agent" in sup.get(r.headers["location"]).text
    r = post(desk, "/agent/state", {"command": "dance"}, page="/agent")
    assert r.status_code == 400 and "unknown agent command" in r.text
    # a request nobody carried out in time is not carried out later
    cid = presence.request("agent", "ready", at_ms=1)
    pbx_side(eng)
    assert presence.command(cid)["result"] == {"ok": False, "error": "expired: no PBX carried it out in time"}
    assert eng.agents["agent"].state == "paused"
    assert client(app, "lin").get("/agent").status_code == 403


def test_the_screen_pop_shows_the_callers_customer_and_parcels(app):
    known_customer()
    eng = engine()
    desk = client(app, "agent")
    post(desk, "/agent/state", {"command": "login", "seat": "8001"}, page="/agent")
    pbx_side(eng)
    eng.join("call-1", "service", PHONE)
    pbx_side(eng)
    assert eng.agents["agent"].state == "ringing" or eng.agents["8002"].state != "ready"
    page = desk.get("/agent").text
    assert "Ringing" in page and PHONE in page
    assert "王芳 &lt;script&gt;" in page and "<script>alert" not in page
    assert wb(1) in page and "TB-77" in page
    # the pop's work-order form opens an order with the call and the customer
    form = re.search(r'<form method="post" action="/workorders".*?</form>', page, re.S).group(0)
    assert 'name="call_id" value="call-1"' in form and f'<option>{wb(1)}</option>' in form
    r = desk.post("/workorders", data={"csrf": csrf_of(page), "kind": "complaint", "content": "催件",
                                       "phone": PHONE, "waybill": wb(1), "call_id": "call-1"},
                  follow_redirects=False)
    assert r.status_code == 303
    ticket = r.headers["location"].rsplit("/", 1)[1]
    assert ticket in desk.get(f"/agent/pop?number={PHONE}").text      # the next pop shows it
    r = desk.get("/agent/pop?number=not-a-number")
    assert r.status_code == 200 and "not-a-number" in r.text


def test_knowledge_base_hits_are_marked_and_escaped(app):
    from hub.kb import articles
    articles.add("logistics", "运费怎么算", "首重 10 元 <i>续重</i> 每公斤 2 元，偏远地区另计。", "t")
    desk = client(app, "agent")
    html = desk.get("/agent/kb", params={"q": "偏远"}).text
    assert "<mark>偏远</mark>" in html and "运费怎么算" in html and "&lt;i&gt;" in html
    assert "Nothing found" in desk.get("/agent/kb", params={"q": "火箭"}).text
    assert desk.get("/agent/kb", params={"q": "<script>"}).text.count("<script>") == 0


def test_the_wallboard_shows_queues_agents_and_alarms(app):
    from contract.clock import now_ms
    from hub.acd import store as qstore
    from hub.acd.queue_log import Entry
    sup = client(app, "sup")
    assert "no PBX has written" in sup.get("/wallboard").text
    eng = engine()
    eng.login("8002", "8002")
    eng.pause("8002", "break")
    pbx_side(eng)
    t = now_ms() - 60_000
    qstore.record([Entry(t, "old-1", "service", "NONE", "ENTERQUEUE", ("", "13800000001")),
                   Entry(t + 40_000, "old-1", "service", "NONE", "ABANDON", ("1", "1", "40"))])
    eng.join("call-9", "service", "13800000009")
    pbx_side(eng)
    board = sup.get("/wallboard").text
    queue_row = re.search(r"<tr[^>]*><td>service</td>.*?</tr>", board, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", queue_row)
    assert cells[1] == "1" and cells[4] == "2" and cells[6] == "1", cells     # waiting, offered, abandoned
    assert "service level today 0% is under the target" in board
    assert re.search(r"<td>8002</td><td class=\"st-paused\">paused \(break\)", board)
    from hub.telephony.tables import CallSpan
    CallSpan.create(trunk="e1-a", span=1, protocol="r2", colour="RED", alarms="LOS", busy=0, idle=0, blocked="",
                    updated_ms=t, worker="w")
    assert "E1 span e1-a (span 1): RED LOS" in sup.get("/wallboard").text
    assert client(app, "agent").get("/wallboard").status_code == 403


def test_supervision_requests_are_checked_before_and_by_the_pbx(app):
    from hub.acd import presence
    sup = client(app, "sup")
    r = post(sup, "/wallboard", {"target": "spy call-1", "seat": "8002"})
    assert r.status_code == 400 and "listen, whisper, barge or take over" in r.text
    r = post(sup, "/wallboard", {"target": "listen call-1", "seat": ""})
    assert r.status_code == 400
    r = post(sup, "/wallboard", {"target": "listen call-1", "seat": "8002"})
    assert r.status_code == 303
    (c,) = [presence.command(int(r.headers["location"].rsplit("=", 1)[1]))]
    assert (c["agent"], c["command"], c["arg"]) == ("sup", "supervise", "listen call-1 8002")
    assert "waiting for the PBX" in sup.get(r.headers["location"]).text
    assert 'value="8002"' in sup.get("/wallboard").text          # the seat is remembered
    assert post(client(app, "agent"), "/wallboard", {"target": "listen call-1", "seat": "8001"},
                page="/agent").status_code == 403


def test_qa_scores_recorded_calls_and_shows_results_per_agent(app, tmp_path):
    import wave
    from contract.clock import now_ms
    from hub.acd import qa
    from hub.acd import store as qstore
    from hub.acd.queue_log import Entry
    from hub.telephony.tables import CallRecording
    path = tmp_path / "c-1.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 8000)
    t = now_ms()
    CallRecording.create(call_id="c-1", path=str(path), caller="13800000001", callee="95311", start_ms=t,
                         end_ms=t + 1000, seconds=1, bytes=path.stat().st_size)
    qstore.record([Entry(t, "c-1", "service", "NONE", "ENTERQUEUE", ("", "13800000001")),
                   Entry(t + 2000, "c-1", "service", "8002", "CONNECT", ("2", "x", "1"))])
    q = client(app, "qa")
    assert "No evaluation form yet" in q.get("/qa").text
    qa.save_form(qa.form_from({"name": "inbound", "weights": {"greeting": 0.25, "resolution": 0.75}}))
    page = q.get("/qa").text
    assert re.search(r'<tr id="rec-c-1">.*?<td>8002</td>', page, re.S)
    r = q.get("/recordings/c-1")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    r = post(q, "/qa", {"form": "inbound", "call": "c-1", "agent": "8002", "c.greeting": "80", "c.resolution": "ten"})
    assert r.status_code == 400 and "resolution: a score from 0 to 100 is needed" in r.text
    r = post(q, "/qa", {"form": "inbound", "call": "c-1", "agent": "8002", "c.greeting": "80", "c.resolution": "140"})
    assert r.status_code == 400 and "outside 0..100" in r.text
    r = post(q, "/qa", {"form": "inbound", "call": "c-1", "agent": "8002", "c.greeting": "80", "c.resolution": "60"})
    assert r.status_code == 303
    page = q.get(r.headers["location"]).text
    assert "65.0 (inbound, qa)" in page                               # 0.25 × 80 + 0.75 × 60
    row = re.search(r"<table class=\"grid\" id=\"qa-results\">.*?</table>", page, re.S).group(0)
    assert "<td>8002</td>" in row and ">65.0<" in row
    agent = client(app, "agent")
    assert agent.get("/qa").status_code == 403
    assert agent.get("/recordings/c-1").status_code == 200          # agents play them from the pop
    assert client(app, "lin").get("/recordings/c-1").status_code == 403
    assert q.get("/recordings/nope").status_code == 404


def test_public_chat_without_a_pbx_wrong_keys_and_limits(tmp_path):
    from hub.web.app import create_app
    from hub.web.security import Limits
    from conftest import sample_store
    path = sample_store(str(tmp_path / "hub.db"))
    app = create_app(path, secure_cookies=False, limits=Limits(chat_per_address="3/minute"), command_wait_s=0.3)     # every start counts, good or bad
    c = TestClient(app)
    r = post(c, "/chat", {"name": "<script>x</script>", "phone": "", "text": "hello <b>there</b>"})
    assert r.status_code == 303
    page = c.get(r.headers["location"])
    assert page.status_code == 200
    assert "no agent can take your chat now (our service is not running)" in page.text
    assert "&lt;b&gt;there&lt;/b&gt;" in page.text and "<b>there</b>" not in page.text
    chat_id = r.headers["location"].split("/chat/")[1].split("?")[0]
    assert c.get(f"/chat/{chat_id}?key=wrong").status_code == 404
    assert c.get(f"/chat/{chat_id}").status_code == 404
    assert c.get(f"/chat/{chat_id}/events?key=wrong").status_code == 404
    key = r.headers["location"].split("key=")[1]
    r2 = post(c, f"/chat/{chat_id}", {"key": key, "text": "anyone?"}, page="/chat")
    assert r2.status_code == 400 and "this chat has ended" in r2.text
    assert post(c, "/chat", {"text": "", "phone": ""}).status_code == 400
    assert post(c, "/chat", {"text": "x", "phone": "12"}).status_code == 400          # not a phone number
    r3 = post(c, "/chat", {"text": "again"})
    assert r3.status_code == 429 and "Retry-After" in r3.headers
    forged = c.post("/chat", data={"text": "x", "csrf": "forged"})
    assert forged.status_code == 403


def test_the_api_enters_waybills_looks_up_callers_and_moves_work_orders(tmp_path):
    from web_helpers import T
    app, tokens = console(tmp_path)
    known_customer()
    c = TestClient(app)

    def call(method, path, user, **kw):
        return c.request(method, "/api/v1" + path, headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)

    rec = {"id": "api-wb-1", "waybill": wb(5), "site": "100", "station": "st-100-1", "operator": "1002",
           "edge_ms": T, "event_ms": T, "fields": {"dest_site": "200", "weight_g": 1200}}
    r = call("POST", "/waybills", "lin", json={"records": [rec, dict(rec, id="api-wb-2", site="200"),
                                                          dict(rec, id="api-wb-3", fields={})]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["committed"] == ["api-wb-1"]
    assert {x["id"]: x["reason"] for x in out["rejected"]} == {
        "api-wb-2": "you enter waybills for site 100 only", "api-wb-3": "a waybill record sets at least one field"}
    assert call("GET", f"/waybills/{wb(5)}", "lin").json()["fields"]["weight_g"] == 1200
    assert call("POST", "/waybills", "lin", json={"records": []}).status_code == 400
    assert call("POST", "/waybills", "agent", json={"records": [rec]}).status_code == 403

    who = call("GET", f"/crm/lookup/{PHONE}", "agent").json()
    assert who["known"] and [p["order_no"] for p in who["parcels"]] == ["TB-77"]
    assert call("GET", "/crm/lookup/nonsense", "agent").status_code == 400
    assert call("GET", f"/crm/lookup/{PHONE}", "lin").status_code == 403

    o = call("POST", "/workorders", "agent", json={"kind": "complaint", "content": "API", "waybill": wb(1),
                                                    "phone": PHONE}).json()
    ticket = o["ticket"]
    assert o["assignee"] == "site:100"
    assert [w["ticket"] for w in call("GET", "/workorders", "lin").json()] == [ticket]
    assert call("GET", "/workorders", "sun").json() == []
    assert call("GET", f"/workorders/{ticket}", "sun").status_code == 404
    assert call("POST", f"/workorders/{ticket}", "lin", json={"action": "verify", "text": "x"}).status_code == 403
    r = call("POST", f"/workorders/{ticket}", "lin", json={"action": "reply", "text": "今天送达"})
    assert r.status_code == 200 and r.json()["step"] == "verify"
    r = call("POST", f"/workorders/{ticket}", "agent", json={"action": "fly"})
    assert r.status_code == 400
    spec = c.get("/api/v1/openapi.json").json()
    assert {"/api/v1/waybills", "/api/v1/workorders/{ticket}", "/api/v1/crm/lookup/{number}",
            "/api/v1/chats"} <= set(spec["paths"])
    # chats for a chat app's back end: with no PBX the chat ends at once, saying why
    r = call("POST", "/chats", "sup", json={"text": "你好", "phone": PHONE})
    assert r.status_code == 200 and r.json()["state"] == "ended"
    chat, key = r.json()["chat"], r.json()["key"]
    msgs = call("GET", f"/chats/{chat}?key={key}", "sup").json()["messages"]
    assert msgs[0]["text"] == "你好" and "no agent can take your chat" in msgs[-1]["text"]
    assert call("GET", f"/chats/{chat}?key=nope", "sup").status_code == 404
    assert call("POST", f"/chats/{chat}/messages", "sup", json={"key": key, "text": "hi"}).status_code == 400
    assert call("POST", "/chats", "agent", json={"text": "x"}).status_code == 403


def test_from_the_pop_an_sms_a_pickup_and_a_callback(app):
    from hub.sms.tables import SmsMessage
    known_customer()
    desk = client(app, "agent")
    page = f"/agent/pop?number={PHONE}"
    r = post(desk, "/agent/pop/sms", {"phone": "+86" + PHONE, "text": "您的包裹今天送达"}, page=page)
    assert r.status_code == 303 and "SMS" in desk.get(r.headers["location"]).text
    (m,) = SmsMessage.select()
    assert (m.phone, m.body, m.state) == ("+86" + PHONE, "您的包裹今天送达", "queued")
    r = post(desk, "/agent/pop/pickup", {"phone": PHONE, "address": "杭州市西湖区文三路 1 号", "parcels": "2",
                                         "hours": "3", "site": "100"}, page=page)
    assert r.status_code == 303, r.text
    assert "for site 100" in desk.get(r.headers["location"]).text
    r = post(desk, "/agent/pop/pickup", {"phone": PHONE, "address": "", "site": "100"}, page=page)
    assert r.status_code == 400
    lin, sun = client(app, "lin"), client(app, "sun")
    assert "文三路" in lin.get("/pickups").text and "文三路" not in sun.get("/pickups").text
    assert sun.get("/pickups?site=100").status_code == 403
    r = post(desk, "/agent/pop/callback", {"phone": "+86" + PHONE}, page=page)
    assert r.status_code == 303
    text = desk.get("/agent").text
    row = re.search(r'<table class="grid" id="callbacks">.*?</table>', text, re.S).group(0)
    assert "+86" + PHONE in row and 'value="reached"' in row
    cid = re.search(r'name="id" value="(\d+)"', row).group(1)
    assert post(desk, "/agent/callbacks", {"id": cid, "outcome": "reached"}, page="/agent").status_code == 303
    assert "+86" + PHONE not in re.search(r'id="callbacks">.*?</table>', desk.get("/agent").text, re.S).group(0)
    assert post(desk, "/agent/callbacks", {"id": cid, "outcome": "reached"}, page="/agent").status_code == 400
    assert post(desk, "/agent/pop/teleport", {"phone": PHONE}, page=page).status_code == 404
    cust = re.search(r'id="pop-quote">.*?name="customer_id" value="(\d+)"', desk.get(page).text, re.S).group(1)
    r = post(desk, "/agent/pop/quote", {"customer_id": cust, "origin": "Ningbo", "dest": "Hamburg",
                                        "container": "40hq", "rate": "2150"}, page=page)
    assert r.status_code == 303 and "Ningbo → Hamburg" in desk.get(r.headers["location"]).text
    assert "Ningbo → Hamburg" in desk.get(page).text                  # the pop shows it from now on
    r = post(desk, "/agent/pop/quote", {"customer_id": cust, "origin": "", "dest": "x"}, page=page)
    assert r.status_code == 400


def test_wrap_up_records_how_the_last_call_ended(app):
    from contract.clock import now_ms
    from hub.acd import dispositions
    from hub.acd import store as qstore
    from hub.acd.queue_log import Entry
    t = now_ms()
    qstore.record([Entry(t, "c-6", "service", "agent", "CONNECT", ("1", "x", "1")),
                   Entry(t + 5000, "c-7", "service", "agent", "CONNECT", ("1", "x", "1"))])
    desk = client(app, "agent")
    r = post(desk, "/agent/disposition", {"code": "work-order", "note": "投诉已登记"}, page="/agent")
    assert r.status_code == 303 and "call c-7: work-order" in desk.get(r.headers["location"]).text
    r = post(desk, "/agent/disposition", {"code": "resolved"}, page="/agent")            # a second replaces it
    assert dispositions.of_calls(["c-6", "c-7"]) == {"c-7": {"agent": "agent", "code": "resolved", "note": "",
                                                             "time_ms": dispositions.of_calls(["c-7"])["c-7"]["time_ms"]}}
    r = post(desk, "/agent/disposition", {"code": "vanished"}, page="/agent")
    assert r.status_code == 400 and "unknown disposition" in r.text
    sup = client(app, "sup")
    r = post(sup, "/agent/disposition", {"code": "resolved"}, page="/agent")
    assert r.status_code == 400 and "not been connected" in r.text
