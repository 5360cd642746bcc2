"""Interleaved rounds: a subject and its baseline measured side by side on a shared, noisy machine.

A figure measured once, before or after its baseline, is at the mercy of whatever else the
machine did at that moment (capture's p99 ratio read 14.9x, 1.4x, 1.0x and 1.8x in runs minutes
apart).  A bench built on this module therefore:

* declares **parts** (``Bench.part``): callables that measure one thing once and return a dict
  of figures, e.g. ``{"p99_ms": 0.41}``; a figure is then named ``"<part>.<figure>"``;
* declares **rows**, what it reports: a figure on its own (``Bench.figure``) or a figure over
  its baseline (``Bench.compare``), each with an optional goal;
* ``Bench.run`` runs every part once per round, for ``--rounds`` rounds: in the declared order in
  even rounds and in reverse order in odd rounds (A B, B A, A B, ...), so whatever favours the
  part that goes first (warm caches) or last (a settled disk) favours subject and baseline alike;
* computes each ratio **within a round** (the subject over the baseline measured just before or
  after it) and reports the median of those per-round ratios with its min-max and interquartile
  range, next to the median absolute figures;
* reports a **noise figure**: the largest relative spread, (max - min) / median across rounds, of
  the baseline figures named by ``Bench.noise_from`` -- how much the machine itself moved while we
  measured.  Above ``NOISY`` a warning says so: trust the ratios over the absolute figures, and
  use more rounds for a tighter spread.

Every bench shares one command line (``parser``/``parse``): ``--rounds N``, ``--quick`` (small
sizes: the whole bench in seconds) and ``--json``: human output goes to stderr and stdout gets
exactly one JSON line with every figure (medians, spreads, per-round values) for scripts and for
``bench/ab.py``.  Sketch::

    ap = harness.parser(__doc__)
    ap.add_argument("--scans", type=int, default=3000)
    args = harness.parse(ap)
    b = harness.Bench("capture", args, params={"scans": args.scans})
    b.part("baseline", lambda r: one_commit_latencies(args.scans))     # r: the round, from 0
    b.part("steady", lambda r: capture_latencies(args.scans))
    b.compare("steady_p99", "steady stream p99", "steady.p99_ms", "baseline.p99_ms", unit="ms",
              goal=("<=", 3), headline=True)                           # goal on the ratio
    b.noise_from("baseline.p99_ms")
    b.run()

Benches that can measure the hub store on PostgreSQL take ``--db postgresql://user@host/db`` (a
server whose user may create databases) and make their stores there with ``PgDatabases``: fresh
databases for the run, dropped at the end unless kept.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
import uuid
from typing import Callable

NOISY = 0.25                 # relative spread of a baseline across rounds above which we warn
SCHEMA = 1                   # version of the JSON line's layout
_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


# ------------------------------------------------------------------ command line
def parser(doc: str | None, rounds: int = 5, quick_rounds: int = 3,
           quick_help: str = "small sizes: a first look in seconds, not for the goals") -> argparse.ArgumentParser:
    """An argument parser with the common options; the bench adds its own, then calls ``parse``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=None,
                    help=f"rounds of subject and baseline, interleaved (default {rounds}; {quick_rounds} with --quick)")
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--json", action="store_true",
                    help="human output to stderr, one JSON line with every figure on stdout")
    ap.set_defaults(_rounds_default=(rounds, quick_rounds))
    return ap


def parse(ap: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    args = ap.parse_args(argv)
    full, quick = args._rounds_default
    del args._rounds_default
    if args.rounds is None:
        args.rounds = quick if args.quick else full
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    return args


# ------------------------------------------------------------------ PostgreSQL stores
PG_SCHEMES = ("postgresql://", "postgres://")
PG_PREFIX = "scanhub_bench_"         # every database PgDatabases makes is named so


def is_pg(url: str | None) -> bool:
    return bool(url) and url.startswith(PG_SCHEMES)


def pg_name(url: str) -> str:
    """The database a postgresql:// URL names."""
    return url.rsplit("/", 1)[1]


class PgDatabases:
    """Fresh databases on a PostgreSQL server for one run, dropped at the end (those made with
    ``keep`` are left for a later run, named ``scanhub_bench_<label>_<random>``)."""

    def __init__(self, url: str):
        import psycopg2
        self.admin = psycopg2.connect(url)
        self.admin.autocommit = True
        self.base, self.names = url.rsplit("/", 1)[0], []

    def create(self, label: str, keep: bool = False) -> str:
        name = f"{PG_PREFIX}{label}_{uuid.uuid4().hex[:8]}"
        self.admin.cursor().execute(f'CREATE DATABASE "{name}"')
        if not keep:
            self.names.append(name)
        return f"{self.base}/{name}"

    def drop(self) -> None:
        for name in self.names:
            self.admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names = []
        self.admin.close()


# ------------------------------------------------------------------ statistics
def summary(values: list[float]) -> dict | None:
    """median, min, max, quartiles (inclusive method) and count of ``values``; None when empty."""
    values = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v))
    if not values:
        return None
    if len(values) > 1:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {"median": statistics.median(values), "min": values[0], "max": values[-1],
            "q1": q1, "q3": q3, "n": len(values)}


def relative_spread(s: dict | None) -> float | None:
    if not s or s["n"] < 2 or not s["median"]:
        return None
    return (s["max"] - s["min"]) / abs(s["median"])


def fmt(v, unit: str = "") -> str:
    """Three significant figures, thousands separated; ``-`` for nothing."""
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if v == 0:
        text = "0"
    elif abs(v) >= 1000 or (isinstance(v, int)):
        text = f"{v:,.0f}"
    else:
        digits = max(0, 2 - math.floor(math.log10(abs(v))))
        text = f"{v:.{digits}f}"
    if unit == "x":
        return text + "x"
    return f"{text} {unit}".rstrip() if unit else text


def _span(s: dict | None, lo: str, hi: str, unit: str = "") -> str:
    return "-" if not s else f"{fmt(s[lo])}-{fmt(s[hi])}{unit}"


# ------------------------------------------------------------------ the bench
class Row:
    def __init__(self, key, label, subject, baseline, unit, goal, goal_on, headline, better):
        self.key, self.label, self.subject, self.baseline, self.unit = key, label, subject, baseline, unit
        self.goal, self.goal_on, self.headline = goal, goal_on, headline
        if better is None and goal:
            better = "lower" if goal[0].startswith("<") else "higher"
        self.better = better


class Bench:
    """One benchmark run: parts measured in interleaved rounds, rows reported with their spread."""

    def __init__(self, name: str, args: argparse.Namespace, params: dict | None = None, warmup: int = 0):
        """``warmup``: rounds run first and thrown away (for cheap benches whose very first
        measurement in a fresh process is off, whatever part it is)."""
        self.name, self.args = name, args
        self.warmup = warmup
        self.rounds = args.rounds
        self.quick = bool(getattr(args, "quick", False))
        self.json = bool(getattr(args, "json", False))
        self.params = dict(params or {})
        self.parts: list[tuple[str, Callable[[int], dict]]] = []
        self.rows: list[Row] = []
        self.noise_keys: list[str] = []
        self.derived: list[tuple[str, Callable[[dict], dict]]] = []
        self.notes: list[str] = []
        self.hooks: dict[str, list[Callable[[int], None]]] = {"before": [], "after": []}
        self.out = sys.stderr if self.json else sys.stdout

    # -- declaring
    def part(self, name: str, fn: Callable[[int], dict]) -> None:
        """``fn(round)`` measures once and returns ``{figure: number}``."""
        assert "." not in name and name not in [p for p, _ in self.parts], name
        self.parts.append((name, fn))

    def derive(self, name: str, fn: Callable[[dict], dict]) -> None:
        """After each round's parts, ``fn(figures)`` (that round's ``{"part.figure": value}``) returns
        more figures, named ``"<name>.<figure>"``: e.g. the worst of several reports in that round."""
        assert "." not in name
        self.derived.append((name, fn))

    def before_round(self, fn: Callable[[int], None]) -> None:
        """``fn(round)`` runs before each round's parts, untimed (e.g. prepare a slice of data)."""
        self.hooks["before"].append(fn)

    def after_round(self, fn: Callable[[int], None]) -> None:
        self.hooks["after"].append(fn)

    def figure(self, key: str, label: str, subject: str, unit: str = "", goal: tuple | None = None,
               headline: bool = False, better: str | None = None) -> None:
        """Report the figure ``subject`` ("part.figure") on its own; ``goal`` such as (">=", 5000)."""
        self._add(Row(key, label, subject, None, unit, goal, "figure" if goal else None, headline, better))

    def compare(self, key: str, label: str, subject: str, baseline: str | float, unit: str = "",
                goal: tuple | None = None, figure_goal: tuple | None = None, headline: bool = False,
                better: str | None = None) -> None:
        """Report ``subject`` next to ``baseline`` (a figure measured in the same rounds, or a constant
        such as a line rate) and their ratio, computed round by round.  ``goal`` applies to the
        ratio, ``figure_goal`` to the absolute figure (at most one of them)."""
        assert not (goal and figure_goal), "one goal per row"
        on = "ratio" if goal else "figure" if figure_goal else None
        self._add(Row(key, label, subject, baseline, unit, goal or figure_goal, on, headline, better))

    def noise_from(self, *figures: str) -> None:
        """Baseline figures whose spread across rounds tells how noisy the machine was."""
        self.noise_keys.extend(figures)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def log(self, *a) -> None:
        print(*a, file=self.out, flush=True)

    def _add(self, row: Row) -> None:
        assert row.key not in [r.key for r in self.rows], row.key
        self.rows.append(row)

    # -- running
    def run(self) -> dict:
        """Measure every round, print the table (and the JSON line); returns the result dict."""
        per_round: list[dict] = []
        part_s: dict[str, list[float]] = {p: [] for p, _ in self.parts}
        names = [p for p, _ in self.parts]
        shown = names if len(names) <= 8 else names[:3] + [f"... ({len(names) - 6} more) ..."] + names[-3:]
        self.log(f"{self.name}: {self.rounds} round(s){' (quick)' if self.quick else ''}; parts in order "
                 f"{' '.join(shown)}" + (", reversed every other round" if len(names) > 1 else "")
                 + (f"; {self.warmup} warm-up round(s) first, discarded" if self.warmup else ""))
        redirect = contextlib.redirect_stdout(sys.stderr) if self.json else contextlib.nullcontext()
        with redirect:
            for w in range(self.warmup):
                self._round(-1 - w, {p: [] for p in names})
                self.log(f"  warm-up round {w + 1}/{self.warmup} done")
            for r in range(self.rounds):
                figures, took = self._round(r, part_s)
                per_round.append(figures)
                if len(took) > 8:
                    took = [f"{len(took)} parts in {sum(v[-1] for v in part_s.values()):.1f} s"]
                self.log(f"  round {r + 1}/{self.rounds}: " + ", ".join(took))
        result = self._result(per_round, part_s)
        self._print(result)
        if self.json:
            sys.stdout.write(json.dumps(result, separators=(",", ":"), default=str) + "\n")
            sys.stdout.flush()
        return result

    def _round(self, r: int, part_s: dict) -> tuple[dict, list[str]]:
        """One round (``r`` < 0: a warm-up round): hooks, then every part, reversed in odd rounds."""
        for fn in self.hooks["before"]:
            fn(r)
        order = self.parts if r % 2 == 0 else self.parts[::-1]
        figures: dict = {}
        took = []
        for name, fn in order:
            t = time.perf_counter()
            got = fn(r) or {}
            part_s[name].append(time.perf_counter() - t)
            took.append(f"{name} {part_s[name][-1]:.1f} s")
            figures.update({f"{name}.{k}": v for k, v in got.items()})
        for name, fn in self.derived:
            figures.update({f"{name}.{k}": v for k, v in (fn(dict(figures)) or {}).items()})
        for fn in self.hooks["after"]:
            fn(r)
        return figures, took

    def _value(self, figures: dict, ref):
        if isinstance(ref, (int, float)):
            return ref
        v = figures.get(ref)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def _result(self, per_round: list[dict], part_s: dict) -> dict:
        keys = sorted({k for f in per_round for k in f})
        figures = {k: summary([f.get(k) for f in per_round]) for k in keys}
        figures = {k: s for k, s in figures.items() if s}
        rows, warnings = {}, []
        for row in self.rows:
            subj = [self._value(f, row.subject) for f in per_round]
            out = {"label": row.label, "unit": row.unit, "subject": row.subject, "figure": summary(subj),
                   "better": row.better, "headline": row.headline}
            ratios = []
            if row.baseline is not None:
                base = [self._value(f, row.baseline) for f in per_round]
                out["baseline"] = ({"constant": row.baseline} if isinstance(row.baseline, (int, float))
                                   else summary(base))
                out["baseline_of"] = None if isinstance(row.baseline, (int, float)) else row.baseline
                ratios = [s / b if s is not None and b else None for s, b in zip(subj, base)]
                out["ratio"] = summary(ratios)
                out["ratios"] = ratios
            if row.goal:
                op, value = row.goal
                checked = ratios if row.goal_on == "ratio" else subj
                per = [_OPS[op](v, value) for v in checked if v is not None]
                med = out["ratio" if row.goal_on == "ratio" else "figure"]
                out["goal"] = {"on": row.goal_on, "op": op, "value": value}
                out["met"] = bool(med and _OPS[op](med["median"], value))
                out["rounds_met"] = sum(per)
                if per and 0 < sum(per) < len(per):
                    warnings.append(f"{row.label.strip()}: goal {row.goal_on} {op} {value:g} met in {sum(per)} of "
                                    f"{len(per)} rounds")
            rows[row.key] = out
        by = {k: relative_spread(figures.get(k)) for k in self.noise_keys}
        by = {k: v for k, v in by.items() if v is not None}
        noise = max(by.values()) if by else None
        if noise is None:
            warnings.append("no noise figure: run at least 2 rounds (3 or more for a useful median)")
        elif noise > NOISY:
            worst = max(by, key=by.get)
            warnings.append(f"noisy run: the baseline ({worst}) moved {noise:.0%} across rounds (> {NOISY:.0%}); "
                            f"trust the ratios over the absolute figures, or rerun with more --rounds")
        return {"bench": self.name, "schema": SCHEMA, "quick": self.quick, "rounds": self.rounds, "warmup": self.warmup,
                "params": self.params, "order": [p for p, _ in self.parts],
                "headline": [r.key for r in self.rows if r.headline], "rows": rows, "figures": figures,
                "per_round": per_round, "part_seconds": {p: summary(v) for p, v in part_s.items()},
                "noise": {"value": noise, "by": by, "threshold": NOISY,
                          "noisy": bool(noise is not None and noise > NOISY)},
                "warnings": warnings, "notes": self.notes}

    def _print(self, res: dict) -> None:
        head = ["measure", "median", "min-max", "baseline", "ratio", "ratio min-max", "ratio IQR", "goal"]
        lines = []
        for row in self.rows:
            r = res["rows"][row.key]
            f, unit = r["figure"], row.unit
            base = r.get("baseline")
            base_txt = "-" if base is None else fmt(base.get("constant", base.get("median")), unit)
            ratio = r.get("ratio")
            goal = "-"
            if "goal" in r:
                g = r["goal"]
                target = f"ratio {g['op']} {g['value']:g}" if g["on"] == "ratio" else f"{g['op']} {fmt(g['value'], unit)}"
                goal = f"{target} {'ok' if r['met'] else 'MISSED'} ({r['rounds_met']}/{res['rounds']})"
            lines.append([("* " if row.headline else "  ") + row.label, fmt(f and f["median"], unit),
                          _span(f, "min", "max"), base_txt, fmt(ratio and ratio["median"]) + ("x" if ratio else ""),
                          _span(ratio, "min", "max"), _span(ratio, "q1", "q3"), goal])
        widths = [max(len(x[i]) for x in [head] + lines) for i in range(len(head))]
        self.log()
        for x in [head] + lines:
            self.log("  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(x, widths))).rstrip())
        n = res["noise"]
        if n["value"] is not None:
            worst = max(n["by"], key=n["by"].get)
            self.log(f"noise: {n['value']:.0%} = (max-min)/median across rounds of {worst}"
                     + (f", the most moving of {len(n['by'])} baseline figures" if len(n["by"]) > 1 else "")
                     + f" (warning above {NOISY:.0%})")
        self.log("* headline figure (bench/ab.py compares these); ratios are medians of per-round ratios")
        for text in self.notes:
            self.log(f"note: {text}")
        for text in res["warnings"]:
            self.log(f"WARNING: {text}")
