"""AHP weights (against ahpy as an oracle), the fuzzy comprehensive evaluation, QA scores, shifts."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from hub.acd import ahp, fuzzy, qa, shifts, store
from hub.acd.ahp import AhpError, InconsistentError
from hub.acd.config import parse_queues
from hub.acd.engine import Engine
from hub.schema import connect

ahpy = pytest.importorskip("ahpy", reason="ahpy (the AHP oracle) is a dev dependency: pip install -e '.[dev]'")
#: the random index ahpy calls 'saaty' (Saaty 2005); ours is the classic table (Saaty 1980)
AHPY_SAATY_RI = {3: 0.52, 4: 0.89, 5: 1.11, 6: 1.25, 7: 1.35, 8: 1.40, 9: 1.45, 10: 1.49}

WORKED = {"criteria": ["greeting", "accuracy", "empathy", "resolution"],
          "judgements": {"greeting/accuracy": "1/3", "greeting/empathy": "1/2", "greeting/resolution": "1/5",
                         "accuracy/empathy": 2, "accuracy/resolution": "1/2", "empathy/resolution": "1/3"}}


def test_the_worked_example_in_the_docs():
    r = ahp.from_spec(WORKED)
    w = r["weights"]
    assert [round(w[c], 4) for c in WORKED["criteria"]] == [0.0882, 0.272, 0.157, 0.4829]
    assert round(r["lambda_max"], 4) == 4.0145 and round(r["ci"], 4) == 0.0048 and round(r["cr"], 4) == 0.0054


saaty = st.sampled_from([1 / 9, 1 / 7, 1 / 5, 1 / 3, 1 / 2, 1, 2, 3, 5, 7, 9])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 8), data=st.data())
def test_weights_and_consistency_agree_with_ahpy(n, data):
    names = [f"k{i}" for i in range(n)]
    judg = {(names[i], names[j]): data.draw(saaty) for i in range(n) for j in range(i + 1, n)}
    m = ahp.matrix_from(names, {f"{a}/{b}": v for (a, b), v in judg.items()})
    ours = ahp.weights(m, names, refuse=False)
    assert sum(ours["weights"].values()) == pytest.approx(1.0) and min(ours["weights"].values()) > 0
    # ahpy finds the eigenvector by squaring the matrix, recursively until it converges; on a very
    # inconsistent matrix of five or more criteria that overflows, and it answers nan (or runs out
    # of stack): the oracle has no answer there to compare with
    try:
        oracle = ahpy.Compare("x", judg, precision=10, random_index="saaty", iterations=1000, tolerance=1e-12)
        theirs = [oracle.target_weights[k] for k in names] + [oracle.consistency_ratio]
    except RecursionError:
        theirs = [math.nan]
    if all(math.isfinite(x) for x in theirs):
        for k in names:
            assert ours["weights"][k] == pytest.approx(oracle.target_weights[k], abs=1e-6)
        assert ours["ci"] == pytest.approx(oracle.consistency_ratio * AHPY_SAATY_RI[n], abs=1e-6)
    assert ours["cr"] == pytest.approx(ours["ci"] / ahp.RANDOM_INDEX[n])
    if ours["cr"] >= 0.1:
        with pytest.raises(InconsistentError) as e:
            ahp.weights(m, names)
        assert "revisit" in str(e.value) and len(e.value.revisit) == 3


def test_an_inconsistent_matrix_is_refused_naming_the_judgement_to_revisit():
    spec = {"criteria": ["a", "b", "c"], "judgements": {"a/b": 3, "b/c": 3, "a/c": "1/5"}}
    with pytest.raises(InconsistentError) as e:
        ahp.from_spec(spec)
    assert e.value.cr >= 0.1 and "a vs c: you said 1/5" in str(e.value)
    for bad, msg in (({"criteria": ["a", "b"], "judgements": {"a/b": 11}}, "outside Saaty"),
                     ({"criteria": ["a", "b", "c"], "judgements": {"a/b": 2}}, "missing judgements: a/c, b/c"),
                     ({"criteria": ["a", "b"], "judgements": {"a/x": 2}}, "two different criteria")):
        with pytest.raises(AhpError, match=msg):
            ahp.from_spec(bad)


TREE = {"grades": ["high", "fairly high", "medium", "fairly low", "low"], "grade_scores": [90, 80, 70, 60, 50],
        "weights": [2, 1],
        "criteria": [{"name": "performance", "judgements": {"correctness/adaptability": 3},
                      "indicators": [{"name": "correctness", "votes": [4, 4, 2, 0, 0]},
                                     {"name": "adaptability", "votes": [0, 2, 4, 3, 1]}]},
                     {"name": "service", "indicators": [{"name": "response", "votes": [3, 5, 2, 0, 0]}]}]}


def test_fuzzy_evaluation_by_hand():
    r = fuzzy.evaluate(TREE)
    perf = [0.75 * a + 0.25 * b for a, b in zip([.4, .4, .2, 0, 0], [0, .2, .4, .3, .1])]
    serv = [.3, .5, .2, 0, 0]
    total = [2 / 3 * a + 1 / 3 * b for a, b in zip(perf, serv)]
    assert r["membership"] == pytest.approx(total)
    assert r["score"] == pytest.approx(sum(x * s for x, s in zip(total, [90, 80, 70, 60, 50])))
    assert r["grade"] == "fairly high" and r["criteria"][0]["indicators"][1]["grade"] == "medium"
    with pytest.raises(AhpError, match=r"criteria\[1\].indicators\[0\] \(response\): 'votes'"):
        fuzzy.evaluate({**TREE, "criteria": [TREE["criteria"][0], {"name": "s", "indicators": [
            {"name": "response", "votes": [1, 2]}]}]})


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=20))
def test_any_tree_evaluates_or_fails_with_one_clear_error(tree):
    try:
        fuzzy.evaluate(tree)
    except AhpError as e:
        assert "\n" not in str(e)


def test_qa_scores_and_shift_handover(tmp_path):
    db = str(tmp_path / "hub.db")
    connect(db, create=True)
    form = qa.form_from({**WORKED, "name": "inbound"})
    qa.save_form(form)
    t0 = 1_764_547_200_000                        # 2025-12-01 00:00 UTC
    shifts.add_shift("day", t0, t0 + 8 * 3600_000, "Li", {"1001": "A01", "1002": "A02"})
    clock = [t0 - 60_000]
    eng = Engine(parse_queues({"agents": [{"id": "1001"}, {"id": "1002"}],
                               "queues": [{"name": "q", "members": [{"agent": "1001"}]}]}),
                 lambda: clock[0], log=store.record)
    eng.login("1001", "A01")
    clock[0] = t0 + 600_000
    eng.join("c1", "q", "138"), eng.answered("1001", "c1")
    clock[0] += 300_000
    eng.hangup("c1")
    eng.join("c2", "q", "139")
    clock[0] += 30_000
    eng.hangup("c2")
    with pytest.raises(Exception, match="missing empathy"):
        qa.score("inbound", "c1", "1001", "qa1", {"greeting": 90, "accuracy": 80, "resolution": 70})
    run = CliRunner()
    r = run.invoke(main, ["cc", "qa", "score", "--db", db, "--form", "inbound", "--call", "c1", "--agent", "1001",
                          "--evaluator", "qa1", "greeting=100", "accuracy=100", "empathy=100", "resolution=100", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["total"] == pytest.approx(100)
    item = shifts.log_item("day", "call back Mr Zhang", "customer")
    shifts.log_item("day", "printer fixed", "task")
    shifts.add_shift("night", t0 + 8 * 3600_000, t0 + 16 * 3600_000, "Wang", {"1003": "A01"})
    shifts.close_item(item["id"] + 1, "day", "done")
    n = shifts.add_notice("day", "new surcharge rules")
    shifts.ack(n["id"], "1001")
    h = shifts.handover("day")
    assert h["kpis"]["offered"] == 2 and h["kpis"]["answer_rate"] == 0.5 and h["kpis"]["quality"] == pytest.approx(100)
    assert {a["agent"]: a["status"] for a in h["attendance"]} == {"1001": "present", "1002": "absent"}
    assert [i["text"] for i in h["open_items"]] == ["call back Mr Zhang"]
    assert [x["id"] for x in h["unacknowledged_notices"]] == [n["id"]]          # 1002 has not acknowledged
    # the open item carries over to the night shift until someone closes it
    assert [i["text"] for i in shifts.handover("night")["open_items"]] == ["call back Mr Zhang"]
    for args in (["cc", "shift", "handover", "day"], ["cc", "shift", "attendance", "day", "--format", "csv"],
                 ["cc", "shift", "log", "list", "--open"], ["cc", "qa", "results", "--json"],
                 ["cc", "shift", "notices", "list", "--agent", "1002"], ["cc", "shift", "handover", "day", "--format", "html"]):
        r = run.invoke(main, args + ["--db", db])
        assert r.exit_code == 0, (args, r.output)
    assert json.loads(run.invoke(main, ["cc", "qa", "results", "--json", "--db", db]).output)[0]["mean"] == 100


def test_cli_ahp_and_fuzzy(tmp_path):
    import yaml
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(WORKED))
    r = CliRunner().invoke(main, ["cc", "ahp", str(p), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)[3]["weight"] == 0.4829
    p.write_text(yaml.safe_dump({"criteria": ["a", "b", "c"], "judgements": {"a/b": 3, "b/c": 3, "a/c": "1/5"}}))
    r = CliRunner().invoke(main, ["cc", "ahp", str(p)])
    assert r.exit_code == 1 and "revisit" in r.output and r.output.count("\n") == 1
    p.write_text(yaml.safe_dump(TREE, allow_unicode=True))
    r = CliRunner().invoke(main, ["cc", "fuzzy", str(p), "--json"])
    assert r.exit_code == 0 and math.isclose(json.loads(r.output)["score"], fuzzy.evaluate(TREE)["score"])


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-3, 12) | st.floats() | st.sampled_from(["1/3", "a/b", "0", "9/1"]),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(
                        st.sampled_from(["criteria", "judgements", "matrix", "weights", "name", "a/b", "b/a", "a/c",
                                         "b/c", "a", "b", "c"]), c, max_size=5), max_leaves=20))
def test_any_ahp_or_form_file_is_used_or_refused_in_one_line(spec):
    from hub.acd.errors import AcdError
    for fn in (ahp.from_spec, qa.form_from):
        try:
            fn(spec)
        except AcdError as e:
            assert "\n" not in str(e)
