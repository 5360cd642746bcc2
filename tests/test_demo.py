import json

from click.testing import CliRunner

from cli import main


def test_demo_json_summary_compares_outboxes_with_the_hub(tmp_path):
    r = CliRunner().invoke(main, ["demo", "--parcels", "60", "--json", "--workdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output.strip().splitlines()[-1])
    assert s["parcels"] == 60
    assert s["captured"] == s["committed"] == 60 * 7
    assert s["lost"] == 0 and s["duplicated"] == 0
    assert s["weight_mismatches"] == 0 and s["outage_s"] > 0
    assert [e["kind"] for e in s["tracking"]["events"]] == ["receive", "dispatch", "arrive", "dispatch",
                                                             "arrive", "deliver", "sign"]
