"""Fuzzy comprehensive evaluation over a two-level criteria tree, with AHP weights.

Each indicator gets votes from evaluators over the grades (five by default: high, fairly high,
medium, fairly low, low); its membership vector is votes / evaluators.  A criterion's result is
its indicators' weights (AHP) times their membership matrix; the overall result is the criteria's
weights times the criteria's results; the score is that vector times the grades' scores.  The
grade with the largest membership names each level (maximum membership).

::

    grades: [high, fairly high, medium, fairly low, low]
    grade_scores: [90, 80, 70, 60, 50]
    judgements: {performance/service: 2}             # between the criteria (or weights: [...])
    criteria:
      - name: performance
        judgements: {correctness/adaptability: 3}    # between its indicators (or weights: [...])
        indicators:
          - {name: correctness, votes: [4, 4, 2, 0, 0]}
          - {name: adaptability, votes: [0, 2, 4, 3, 1]}
      - name: service
        indicators:
          - {name: response, votes: [3, 5, 2, 0, 0]}
"""
from __future__ import annotations

from hub.acd import ahp
from hub.acd.ahp import AhpError

DEFAULT_GRADES = ["high", "fairly high", "medium", "fairly low", "low"]
DEFAULT_SCORES = [90, 80, 70, 60, 50]


def _weights(node: dict, names: list[str], where: str) -> dict[str, float]:
    if len(names) == 1:
        return {names[0]: 1.0}
    if "weights" in node:
        w = node["weights"]
        if not isinstance(w, list) or len(w) != len(names) or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0 for x in w) or not sum(w):
            raise AhpError(f"{where}: 'weights' must be {len(names)} non-negative numbers")
        return {n: x / sum(w) for n, x in zip(names, w)}
    j = node.get("judgements")
    if not isinstance(j, dict):
        raise AhpError(f"{where}: give 'judgements' (AHP) or 'weights'")
    try:
        return ahp.weights(ahp.matrix_from(names, j), names)["weights"]
    except AhpError as e:
        raise AhpError(f"{where}: {e}") from None


def _vec_times(weights: list[float], rows: list[list[float]]) -> list[float]:
    return [sum(w * r[k] for w, r in zip(weights, rows)) for k in range(len(rows[0]))]


def evaluate(tree: dict, where: str = "tree") -> dict:
    """The two-level evaluation of ``tree`` (see the module docstring); ``AhpError`` naming the
    place of any problem."""
    if not isinstance(tree, dict) or not isinstance(tree.get("criteria"), list) or not tree["criteria"]:
        raise AhpError(f"{where}: needs a non-empty list 'criteria'")
    grades = [str(g) for g in tree.get("grades", DEFAULT_GRADES)]
    scores = tree.get("grade_scores", DEFAULT_SCORES if len(grades) == 5 else None)
    if not isinstance(scores, list) or len(scores) != len(grades) or any(
            isinstance(s, bool) or not isinstance(s, (int, float)) for s in scores):
        raise AhpError(f"{where}: 'grade_scores' must give one number per grade ({len(grades)})")
    crits, results = [], []
    names = []
    for i, c in enumerate(tree["criteria"]):
        cw = f"{where}: criteria[{i}]"
        if not isinstance(c, dict) or not c.get("name") or not isinstance(c.get("indicators"), list) or not c["indicators"]:
            raise AhpError(f"{cw}: needs a name and a non-empty list 'indicators'")
        inds, rows = [], []
        for j, ind in enumerate(c["indicators"]):
            iw = f"{cw}.indicators[{j}]"
            if not isinstance(ind, dict) or not ind.get("name"):
                raise AhpError(f"{iw}: needs a name and votes")
            v = ind.get("votes")
            if (not isinstance(v, list) or len(v) != len(grades)
                    or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in v) or not sum(v)):
                raise AhpError(f"{iw} ({ind['name']}): 'votes' must be {len(grades)} counts of evaluators, not all 0")
            rows.append([x / sum(v) for x in v])
            inds.append(str(ind["name"]))
        if len(set(inds)) != len(inds):
            raise AhpError(f"{cw}: indicator names must differ")
        w = _weights(c, inds, f"{cw} ({c['name']})")
        b = _vec_times([w[n] for n in inds], rows)
        names.append(str(c["name"]))
        results.append(b)
        crits.append({"criterion": str(c["name"]), "indicators": [
            {"indicator": n, "weight": w[n], "membership": r, "grade": grades[max(range(len(r)), key=r.__getitem__)]}
            for n, r in zip(inds, rows)], "membership": b,
            "grade": grades[max(range(len(b)), key=b.__getitem__)],
            "score": sum(x * s for x, s in zip(b, scores))})
    if len(set(names)) != len(names):
        raise AhpError(f"{where}: criterion names must differ")
    top = _weights(tree, names, f"{where} (criteria)")
    for c in crits:
        c["weight"] = top[c["criterion"]]
    b = _vec_times([top[n] for n in names], results)
    return {"grades": grades, "grade_scores": scores, "criteria": crits, "membership": b,
            "grade": grades[max(range(len(b)), key=b.__getitem__)], "score": sum(x * s for x, s in zip(b, scores))}
