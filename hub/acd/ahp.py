"""AHP (the analytic hierarchy process): weights from a pairwise comparison matrix.

Judgements are on Saaty's 1–9 scale (1 equal, 3 moderate, 5 strong, 7 very strong, 9 extreme,
their reciprocals for the other way round).  The weights are the principal eigenvector of the
matrix, normalised to sum 1; λmax its eigenvalue; CI = (λmax − n) / (n − 1); CR = CI / RI with
Saaty's random index RI.  A matrix with CR ≥ 0.1 is refused (``InconsistentError``), naming the
judgements that disagree most with the weights the others imply (a_ij · w_j / w_i furthest from
1), each with the value that would agree.

A file (YAML) gives the criteria and either the judgements by pair or the whole matrix::

    criteria: [greeting, accuracy, empathy, resolution]
    judgements:                 # "a/b: v": a is v times as important as b (v may be 1/3)
      greeting/accuracy: 1/3
      greeting/empathy: 1/2
      ...                       # every pair once, in either order
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from hub.acd.errors import AcdError

#: Saaty's random index by matrix size (1 and 2 are always consistent).
RANDOM_INDEX = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45, 10: 1.49,
                11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59}
SCALE = [Fraction(1, k) for k in range(9, 1, -1)] + [Fraction(k) for k in range(1, 10)]
CR_LIMIT = 0.1


class AhpError(AcdError):
    """A comparison matrix or judgement that cannot be used."""


class InconsistentError(AhpError):
    def __init__(self, cr: float, revisit: list[dict]):
        self.cr, self.revisit = cr, revisit
        pairs = "; ".join(f"{r['a']} vs {r['b']}: you said {r['said']}, the other judgements imply about {r['implied']}"
                          for r in revisit)
        super().__init__(f"the judgements are inconsistent (CR {cr:.3f} ≥ {CR_LIMIT}): revisit {pairs}")


def judgement(v, where: str) -> float:
    """A Saaty judgement: a number or "a/b" in [1/9, 9]."""
    try:
        f = float(Fraction(str(v).strip())) if not isinstance(v, (int, float)) or isinstance(v, bool) else float(v)
    except (ValueError, ZeroDivisionError):
        raise AhpError(f"{where}: {v!r} is not a judgement (1 to 9, or 1/2 to 1/9)") from None
    if isinstance(v, bool) or not (1 / 9 - 1e-9 <= f <= 9 + 1e-9):
        raise AhpError(f"{where}: {v!r} is outside Saaty's scale 1/9 … 9")
    return f


def matrix_from(criteria: list[str], judgements: dict) -> np.ndarray:
    """The full reciprocal matrix from one judgement per pair ("a/b": v)."""
    n = len(criteria)
    if n < 1 or len(set(criteria)) != n:
        raise AhpError("the criteria must be a list of distinct names")
    idx = {c: i for i, c in enumerate(criteria)}
    m = np.ones((n, n))
    seen = set()
    for key, v in judgements.items():
        a, sep, b = str(key).partition("/")
        a, b = a.strip(), b.strip()
        if not sep or a not in idx or b not in idx or a == b:
            raise AhpError(f"judgement {key!r}: write it as 'a/b' with two different criteria of {criteria}")
        pair = frozenset((a, b))
        if pair in seen:
            raise AhpError(f"judgement {key!r}: the pair {a}, {b} is judged twice")
        seen.add(pair)
        x = judgement(v, f"judgement {key!r}")
        m[idx[a], idx[b]], m[idx[b], idx[a]] = x, 1 / x
    missing = [f"{criteria[i]}/{criteria[j]}" for i in range(n) for j in range(i + 1, n)
               if frozenset((criteria[i], criteria[j])) not in seen]
    if missing:
        raise AhpError(f"missing judgements: {', '.join(missing)}")
    return m


def check_matrix(m) -> np.ndarray:
    a = np.asarray(m, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise AhpError("the comparison matrix must be square")
    n = a.shape[0]
    if n > max(RANDOM_INDEX):
        raise AhpError(f"at most {max(RANDOM_INDEX)} criteria in one matrix (group them into a tree)")
    for i in range(n):
        if abs(a[i, i] - 1) > 1e-9:
            raise AhpError(f"the diagonal must be 1 (row {i + 1})")
        for j in range(n):
            if not (1 / 9 - 1e-9 <= a[i, j] <= 9 + 1e-9):
                raise AhpError(f"entry ({i + 1}, {j + 1}) = {a[i, j]:g} is outside Saaty's scale 1/9 … 9")
            if abs(a[i, j] * a[j, i] - 1) > 1e-6:
                raise AhpError(f"entries ({i + 1}, {j + 1}) and ({j + 1}, {i + 1}) must be reciprocal")
    return a


def _nearest(x: float) -> str:
    best = min(SCALE, key=lambda f: abs(math.log(float(f)) - math.log(x)))
    return str(best)


def weights(m, criteria: list[str] | None = None, refuse: bool = True) -> dict:
    """``{"weights", "lambda_max", "ci", "ri", "cr"}`` of matrix ``m``; ``InconsistentError`` when
    CR ≥ 0.1 and ``refuse``."""
    a = check_matrix(m)
    n = a.shape[0]
    names = criteria or [f"c{i + 1}" for i in range(n)]
    vals, vecs = np.linalg.eig(a)
    k = int(np.argmax(vals.real))
    w = np.abs(vecs[:, k].real)
    w = w / w.sum()
    lam = float(vals[k].real)
    ci = (lam - n) / (n - 1) if n > 2 else 0.0
    ri = RANDOM_INDEX[n]
    cr = ci / ri if ri else 0.0
    out = {"weights": dict(zip(names, (float(x) for x in w))), "lambda_max": lam, "ci": ci, "ri": ri, "cr": cr}
    if refuse and cr >= CR_LIMIT:
        worst = sorted(((abs(math.log(a[i, j] * w[j] / w[i])), i, j) for i in range(n) for j in range(i + 1, n)),
                       reverse=True)[:3]
        raise InconsistentError(cr, [{"a": names[i], "b": names[j], "said": _nearest(a[i, j]),
                                      "implied": _nearest(w[i] / w[j])} for _, i, j in worst])
    return out


def from_spec(spec: dict, where: str = "AHP") -> dict:
    """Weights from a decoded file: ``criteria`` and ``judgements`` (or ``matrix``)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("criteria"), list):
        raise AhpError(f"{where}: needs a list 'criteria' and 'judgements' (or 'matrix')")
    crit = [str(c) for c in spec["criteria"]]
    if "matrix" in spec:
        try:
            m = [[judgement(v, f"{where}: matrix") for v in row] for row in spec["matrix"]]
        except TypeError:
            raise AhpError(f"{where}: 'matrix' must be a list of rows") from None
        if len(m) != len(crit):
            raise AhpError(f"{where}: {len(crit)} criteria but a {len(m)}-row matrix")
    else:
        j = spec.get("judgements") or {}
        if not isinstance(j, dict):
            raise AhpError(f"{where}: 'judgements' must map 'a/b' to a value")
        m = matrix_from(crit, j)
    return weights(m, crit)
