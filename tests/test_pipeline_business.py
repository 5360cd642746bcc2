"""Issue-4 business rules over the real pipeline: blocking reaches the stations through their
configuration, monitoring and the ledger follow the scans that arrive over MQTT."""
import json
import os

from click.testing import CliRunner

from cli import main
from conftest import wait_for, wb

TARIFF = os.path.join(os.path.dirname(__file__), "..", "sim", "networks", "tariff-sample.yaml")


def cli(*args):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def blocked(agent):
    return "100" in (agent.config or {}).get("blocked_sites", [])


def test_blocking_monitoring_and_fees_over_mqtt(hub_service, make_edge, hub_store):
    db = ["--db", hub_store]
    origin, center = make_edge(), make_edge("st-900-1", "900")
    assert origin.config_event.wait(15) and center.config_event.wait(15)
    cli("account", "set-tariff", TARIFF, *db)
    cli("account", "set-mode", "100", "prepaid", *db)
    cli("account", "set-warning", "100", "50.00", *db)               # balance 0 is under it
    wait_for(lambda: blocked(origin) and blocked(center), what="the block to reach both stations")

    o = origin.capture
    o.scan("%KRECEIVE"), o.scan("%P1002"), o.scan("%M5000")
    v = o.scan(wb(1))
    assert v.outcome == "refused" and "no freight-collect or COD" in v.reason
    center.capture.scan("%KARRIVE"), center.capture.scan("%P9001")
    v = center.capture.scan(wb(2), weight_g=800)
    assert v.outcome == "refused" and "origin site 100 is blocked" in v.reason

    cli("account", "deposit", "100", "100.00", "--ref", "SLIP-1", *db)
    wait_for(lambda: not blocked(origin) and not blocked(center), what="the top-up to lift the block")
    v = o.scan(wb(1))                                                 # %M5000 still armed for this one
    assert v.accepted and v.scan["extra"] == {"cod_cents": 5000}
    assert o.scan(wb(3)).accepted and "extra" not in o.outbox.scans()[-1]   # one-shot amount
    o.scan("%KDISPATCH"), o.scan("%D200")
    assert o.scan(wb(1)).accepted and o.outbox.scans()[-1]["next_site"] == "900"
    wait_for(lambda: origin.outbox.counts()["pending"] == 0, what="origin scans at the hub")

    not_arrived = json.loads(cli("monitor", "not-arrived", "--site", "900", "--json", *db))
    assert [r["waybill"] for r in not_arrived] == [wb(1)]
    assert center.capture.scan(wb(1), weight_g=1200).accepted
    wait_for(lambda: center.outbox.counts()["pending"] == 0, what="the arrival at the hub")
    assert json.loads(cli("monitor", "not-arrived", "--site", "900", "--json", *db)) == []

    statement = json.loads(cli("account", "statement", "100", "--json", *db))
    kinds = [r.get("kind") or r.get("purpose") or r.get("memo") for r in statement["rows"]]
    assert len(statement["rows"]) >= 2, statement      # the deposit and the receive's courier fee
    assert any("deposit" in str(k) for k in kinds), kinds
