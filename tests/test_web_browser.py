"""The web console in a real browser (Playwright driving Debian's chromium) against a real hub:
a Mosquitto, the hub's ingest, an edge agent scanning, and ``scanhub web run`` as its own
process on the same store.

With ``SCANHUB_PICTURES=<folder>`` the test saves a screenshot of each page there (the pictures
in docs/pictures/web-*.png are made this way: ``SCANHUB_PICTURES=docs/pictures``)."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import needs, raw_station, wait_for, wb
from web_helpers import password

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-headless-shell")
SCANHUB = os.path.join(os.path.dirname(sys.executable), "scanhub")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args, stdin: str | None = None) -> str:
    r = subprocess.run([SCANHUB, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


@pytest.fixture
def browser():
    exe = next((p for p in CHROMIUM if shutil.which(p)), None)
    if exe is None:
        needs("chromium", "Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        needs("playwright", f"the playwright package is not installed: {e}")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-dev-shm-usage"])
        except Exception as e:  # noqa: BLE001 - a browser that cannot start here is a skip with its reason
            needs("chromium", f"{exe} cannot start here: {str(e).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture
def console_url(hub_store):
    """``scanhub web run`` on the hub's store, with an admin and a site-100 user."""
    _cli("web", "user", "add", "admin", "--role", "admin", "--name", "管理员 Admin", "--password-stdin",
         "--db", hub_store, stdin=password("admin") + "\n")
    _cli("web", "user", "add", "lin", "--role", "site", "--site", "100", "--name", "林华 Lin Hua",
         "--password-stdin", "--db", hub_store, stdin=password("lin") + "\n")
    with web_console(hub_store) as url:
        yield url


@contextlib.contextmanager
def web_console(db: str):
    """``scanhub web run`` on the store ``db`` as its own process; yields its URL."""
    port = _free_port()
    proc = subprocess.Popen([SCANHUB, "web", "run", "--db", db, "--listen", f"127.0.0.1:{port}",
                             "--insecure-cookies", "--refresh", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    import httpx2 as httpx

    def up():
        if proc.poll() is not None:
            pytest.fail(f"scanhub web run exited: {proc.stdout.read()}")
        try:
            return httpx.get(url + "/login", timeout=2).status_code == 200
        except httpx.TransportError:
            return False
    try:
        wait_for(up, 30, "the web console to answer")
        yield url
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        print("scanhub web run said:", out)      # shown with a failing test


def shanghai(broker, waybill: str) -> None:
    """Center 901 (a station the sample network has none of) arrives and dispatches the parcel to
    site 200, over MQTT as a station does."""
    from contract import protocol as P
    from contract.clock import now_ms
    t = now_ms()
    scans = [{"id": f"st-901-1-e-{i}", "station": "st-901-1", "epoch": "e", "seq": i, "kind": kind,
              "waybill": waybill, "site": "901", "operator": "9101", "edge_ms": t + i, "event_ms": t + i,
              "clock": "trusted", **extra}
             for i, (kind, extra) in enumerate((("arrive", {}), ("dispatch", {"next_site": "200"})), 1)]
    with raw_station(broker, "st-901-1") as (c, acks):
        c.publish(P.topic("st-901-1", P.SCANS), P.encode({"batch": "b1", "station": "st-901-1", "scans": scans,
                                                           "deletions": []}), qos=1)
        wait_for(lambda: acks, what="the hub's acknowledgement of center 901's scans")


def shot(page, tmp_path, name: str) -> None:
    folder = os.environ.get("SCANHUB_PICTURES") or str(tmp_path)
    path = os.path.join(folder, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 1000


def log_in(page, url, name):
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password(name))
    page.click("button[type=submit]")


def test_dashboard_follows_the_scan_pipeline_live_and_customers_can_track(browser, console_url, hub_service,
                                                                           make_edge, tmp_path, broker):
    from playwright.sync_api import expect
    url = console_url
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(url + "/dashboard")
    expect(page).to_have_url(url + "/login?next=%2Fdashboard")
    shot(page, tmp_path, "web-login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong password!")
    page.click("button[type=submit]")
    expect(page.locator("p.error")).to_have_text("Wrong user name or password.")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password("admin"))
    page.click("button[type=submit]")
    expect(page).to_have_url(url + "/dashboard")
    expect(page.locator("#who")).to_contain_text("管理员 Admin")
    row = page.locator('#stations tr[data-station="st-100-1"]')
    expect(row.locator("td.state-never")).to_have_count(1)

    # from here on the page is never reloaded: what changes comes over the live feed
    page.evaluate("window.__same_page = true")
    edge = make_edge()
    assert edge.config_event.wait(15), "the station got no configuration"
    expect(row.locator("td.state-online")).to_have_count(1, timeout=20_000)
    c = edge.capture
    c.scan("%KRECEIVE"), c.scan("%P1002")
    assert c.scan(wb(1)).accepted
    c.scan("%KDISPATCH"), c.scan("%D200")
    assert c.scan(wb(1)).accepted
    wait_for(lambda: edge.outbox.counts()["pending"] == 0, what="the scans at the hub")
    cell = page.locator('#monitor tr[data-site="900"] td[data-report="not-arrived"]')
    expect(cell).to_have_text("1", timeout=20_000)         # dispatched toward 900, not arrived yet
    expect(page.locator('#summary [data-count="online"]')).to_have_text("1")
    assert page.evaluate("window.__same_page") is True
    shot(page, tmp_path, "web-dashboard-live")

    cell.locator("a").click()                               # drill down
    expect(page.locator("h1")).to_have_text("not-arrived · site 900")
    expect(page.locator("table.grid tbody")).to_contain_text(wb(1))
    shot(page, tmp_path, "web-monitor-drilldown")
    page.locator("table.grid a", has_text=wb(1)).click()    # the staff history of the parcel
    expect(page.locator("#status")).to_contain_text("in transit")
    expect(page.locator("table.grid")).to_contain_text("1002")       # staff see the operator
    shot(page, tmp_path, "web-parcel")

    page.goto(url + "/users")
    expect(page.locator('tr[data-user="lin"]')).to_contain_text("林华 Lin Hua")
    shot(page, tmp_path, "web-users")
    page.goto(url + "/audit")
    expect(page.locator("table.grid")).to_contain_text("login.failed")
    shot(page, tmp_path, "web-audit")

    # a customer, not logged in, tracks the parcel the pipeline moved
    public = browser.new_context(viewport={"width": 1000, "height": 700}, locale="zh-CN").new_page()
    public.goto(url + "/track")
    public.fill("input[name=waybill]", wb(1))
    public.click("button[type=submit]")
    expect(public.locator("#status")).to_contain_text("in transit")
    expect(public.locator("ol.timeline li")).to_have_count(2)
    expect(public.locator("ol.timeline")).to_contain_text("left Xihu Site for Hangzhou Center")

    # the parcel goes on through the center to site 200, is delivered and signed for; the
    # dashboard, still not reloaded, shows the sign rate and the differences closing
    page.goto(url + "/dashboard")
    page.evaluate("window.__same_page = true")
    center, dest = make_edge("st-900-1", "900"), make_edge("st-200-1", "200")
    assert center.config_event.wait(15) and dest.config_event.wait(15)
    g = center.capture
    g.scan("%P9001"), g.scan("%KARRIVE")
    assert g.scan(wb(1), weight_g=1250).accepted
    g.scan("%KDISPATCH"), g.scan("%D200")
    assert g.scan(wb(1)).accepted
    wait_for(lambda: center.outbox.counts()["pending"] == 0, what="the center's scans at the hub")
    shanghai(broker, wb(1))                          # the Shanghai center: a hand-driven station
    d = dest.capture
    d.scan("%P2002"), d.scan("%KARRIVE")
    assert d.scan(wb(1)).accepted
    d.scan("%KDELIVER"), d.scan("%C2001")
    assert d.scan(wb(1)).accepted
    d.scan("%KSIGN"), d.scan("%GZhang Wei")
    assert d.scan(wb(1)).accepted
    for e in (center, dest):
        wait_for(lambda: e.outbox.counts()["pending"] == 0, what="the scans at the hub")
    expect(page.locator("#signrate svg circle")).to_have_count(2, timeout=20_000)   # sign rate, on-time rate
    expect(page.locator("#signrate table.grid tbody tr td").nth(2)).to_have_text("1")     # signed
    expect(page.locator('#monitor tr[data-site="900"] td[data-report="not-arrived"]')).to_have_count(0)
    expect(page.locator('#summary [data-count="online"]')).to_have_text("3")
    assert page.evaluate("window.__same_page") is True
    shot(page, tmp_path, "web-dashboard")

    public.click("button[type=submit]")
    expect(public.locator("#status")).to_contain_text("signed")
    expect(public.locator("ol.timeline li").first).to_contain_text("delivered and signed for at Pudong Site")
    expect(public.locator("ol.timeline li")).to_have_count(9)
    body = public.locator("main").inner_text()
    for staff in ("1002", "Li Qiang", "st-100-1", "1001", "2001", "2002", "Chen Jie", "Zhang Wei", "9001", "9101", "1250"):
        assert staff not in body, staff
    shot(public, tmp_path, "web-track")

    # site staff of site 100 see their own site only
    site = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(site, url, "lin")
    expect(site).to_have_url(url + "/dashboard")
    expect(site.locator("h1")).to_have_text("Hub dashboard · site 100")
    expect(site.locator('#stations tr[data-station="st-100-1"]')).to_have_count(1)
    expect(site.locator('#stations tr[data-station="st-900-1"]')).to_have_count(0)
    shot(site, tmp_path, "web-dashboard-site")
    site.goto(url + "/users")
    expect(site.locator("h1")).to_have_text("Not allowed")
    ctx.close()


def test_the_docs_curl_examples_work_as_pasted(hub_store):
    """docs/web.md's API examples, run in bash as written (only the port differs) against
    `scanhub web run`: every call answers 200 with JSON."""
    import json
    import re
    from hub.schema import connect
    from hub.store.db import database
    from web_helpers import commit_two_parcels
    connect(hub_store)
    commit_two_parcels()
    database.close()
    if shutil.which("curl") is None:
        needs("curl", "the examples are curl commands")
    _cli("web", "user", "add", "erp-bot", "--role", "admin", "--password-stdin", "--db", hub_store,
         stdin="a long enough password\n")
    token = _cli("web", "token", "add", "erp-bot", "--name", "erp", "--db", hub_store).strip()
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "web.md"), encoding="utf-8").read()
    block = re.search(r"<!-- api-examples -->\n```sh\n(.*?)```\n<!-- /api-examples -->", doc, re.S).group(1)
    port = _free_port()
    proc = subprocess.Popen([SCANHUB, "web", "run", "--db", hub_store, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        script = ('curl() { command curl --fail-with-body --retry 50 --retry-connrefused --retry-delay 0 '
                  '--retry-max-time 30 "$@"; echo; }\n' + block.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
        r = subprocess.run(["bash", "-e", "-c", script], env={**os.environ, "TOKEN": token}, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        answers = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        assert len(answers) == block.count("curl -s")
        assert answers[0]["waybill"] == "70000000000016" and answers[0]["status"] == "in transit"
        assert answers[-1]["openapi"].startswith("3.")
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_docs_tables_name_every_endpoint_and_page():
    from hub.web import api
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "web.md"), encoding="utf-8").read()
    for path, _, methods in api.ROUTES:
        for m in methods:
            assert f"`{m} /api/v1{path}`" in doc, (m, path)
    for page in ("/login", "/dashboard", "/parcels", "/orders", "/dead-letters", "/users", "/audit", "/track",
                 "/agent", "/wallboard", "/workorders", "/qa", "/chat"):
        assert f"`{page}" in doc, page
    for picture in re.findall(r"\(pictures/([\w.-]+)\)", doc):
        assert os.path.exists(os.path.join(os.path.dirname(__file__), "..", "docs", "pictures", picture)), picture
