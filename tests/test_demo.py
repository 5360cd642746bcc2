import json

from click.testing import CliRunner

from cli import main


def test_demo_json_summary_compares_outboxes_with_the_hub(tmp_path):
    r = CliRunner().invoke(main, ["demo", "--parcels", "60", "--json", "--workdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output.strip().splitlines()[-1])
    assert s["parcels"] == 60
    w = s["waybills"]
    x = s["extras"]
    # a bag of 10 through the center (receive, build, load, unload, open 9 of them) and a problem parcel
    assert x["scans"] == 11 + 10 + 1 + 1 + 9 + 1, s["notes"]
    assert s["captured"] == s["committed"] == 60 * 7 + w["return_scans"] + x["scans"]
    assert s["lost"] == 0 and s["duplicated"] == 0
    assert w["entered"] == 61 and w["with_dims"] == 12 and w["refused"] == []
    assert w["cod"]["collected_cents"] == 50000
    assert w["returned"]["return_fee_cents"] > 0 and not w["returned"]["cod_collected"]
    assert x["missing_at_opening"] == ["70000010000105"]
    assert x["bag_track"] == ["receive at 100", "bag_build at 100", "dispatch (from bag) at 100",
                              "arrive (from bag) at 900", "bag_open at 900"]
    assert [(p["reason"], p["action"], p["handled_by"]) for p in x["problem"]] == [("A04", "redelivered", "2001")]
    assert [(i["complete"], i["size"], i["station"]) for i in x["proof"]["images"]] == [(True, 150_004, "st-200-1")]
    assert s["weight_mismatches"] == 0 and s["outage_s"] > 0
    assert [e["kind"] for e in s["tracking"]["events"]] == ["receive", "dispatch", "arrive", "dispatch",
                                                             "arrive", "deliver", "sign"]


def test_demo_progress_never_passes_its_total_and_refusal_examples_say_so(tmp_path):
    r = CliRunner().invoke(main, ["demo", "--parcels", "120", "--json", "--workdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output.strip().splitlines()[-1])
    p = s["progress"]
    assert p["overshoot"] == 0, p                       # never "hub committed 7009/7000"
    assert p["hub_committed"] == p["hub_total"] == 120 * 7

    from sim.demo import print_summary
    import io
    import rich.console
    s["refused"] = 11
    buf = io.StringIO()
    orig = rich.console.Console
    rich.console.Console = lambda **kw: orig(file=buf, width=200, **kw)
    try:
        print_summary(s)
    finally:
        rich.console.Console = orig
    out = buf.getvalue()
    assert len(s["refusal_examples"]) == 2               # 120 parcels: two smudged labels
    assert "11 scans refused at the gun" in out and "the first 2, as examples:" in out, out
