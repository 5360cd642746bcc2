"""The documented worked example, replayed with the real Mosquitto command-line clients."""
import json
import os
import re
import shutil
import sqlite3
import subprocess


from conftest import needs


DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "protocol.md")


def documented_batch() -> str:
    text = open(DOC, encoding="utf-8").read()
    m = re.search(r"<!-- example-batch -->\s*```json\n(.*?)```", text, re.S)
    assert m, "docs/protocol.md lost its example batch"
    return m.group(1)


def test_example_batch_with_mosquitto_pub_is_acked_and_tracked(hub_service, broker, hub_store, tmp_path):
    if not (shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub")):
        needs("mosquitto-clients", "apt-get install mosquitto-clients")
    batch = tmp_path / "batch.json"
    batch.write_text(documented_batch())
    port = str(broker.port)
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t",
                            "scanhub/v1/station/st-100-1/ack", "-C", "2", "-W", "30"],
                           stdout=subprocess.PIPE, text=True)
    try:
        # the subscription must be in place before the batch goes out: the config is retained,
        # so a second client seeing it proves the broker has processed earlier subscriptions
        subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t",
                        "scanhub/v1/station/st-100-1/config", "-C", "1", "-W", "20"],
                       check=True, capture_output=True)
        for _ in range(2):     # the second copy must change nothing
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t",
                            "scanhub/v1/station/st-100-1/scans", "-f", str(batch)], check=True)
        out, _ = sub.communicate(timeout=40)
    finally:
        sub.kill()
    acks = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [a["committed"] for a in acks] == [[[1, 1]], [[1, 1]]]
    with sqlite3.connect(hub_store) as c:
        assert c.execute("SELECT COUNT(*) FROM scanevent").fetchone()[0] == 1
    from click.testing import CliRunner
    from cli import main
    r = CliRunner().invoke(main, ["track", "70000000000016", "--db", hub_store, "--json"])
    t = json.loads(r.output)
    assert t["status"] == "received" and t["events"][0]["site"] == "100"


def test_example_waybill_is_valid_under_the_sample_rules(sample_network):
    from contract.waybill import WaybillRules
    scan = json.loads(documented_batch())["scans"][0]
    assert WaybillRules(sample_network["waybill_rules"]).validate(scan["waybill"]) is None
