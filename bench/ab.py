"""A/B: one bench, two versions of the code, measured in the same run, interleaved.

    python bench/ab.py --ref <git-rev> [--rounds 5] -- capture.py --quick
    python bench/ab.py --ref main~3 --rounds 3 -- drain.py --quick --rounds 1

Checks out <git-rev> as a detached ``git worktree`` in the temp folder (``scanhub-ab-<commit>``,
kept and reused by later runs; ``--clean`` removes it at the end), then runs the bench of both
trees alternately, ref first in even rounds and this tree first in odd ones:
``<ref tree>/bench/<script> ... --json`` and ``<this tree>/bench/<script> ... --json``, each with
its own tree first on PYTHONPATH and as its working folder.  "This tree" is the working tree
this script lives in, uncommitted changes included.  For every headline figure of the bench it
prints the median over rounds of this/ref (with min-max), for the absolute figure and, where the
bench has one, for the figure's ratio to its own baseline (the steadier of the two on a busy
machine, as long as the change leaves the baseline alone).  A change is called better or worse only
when every round (3 or more) agrees; otherwise "within noise".

Arguments after ``--`` go to the bench unchanged (the bench's own --rounds, --quick, sizes).
Only refs whose bench/ has harness.py and --json benches can be compared: the commit that
introduced bench/harness.py and later ones.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git(*args: str, cwd: str = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def resolve(ref: str) -> str:
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"ab: {ref!r} is not a commit of {ROOT}")


def worktree(commit: str) -> tuple[str, str]:
    """(folder, commit) of a detached worktree of ``commit``, created or reused."""
    path = os.path.join(tempfile.gettempdir(), f"scanhub-ab-{commit[:12]}")
    if os.path.isdir(path):
        try:
            if git("rev-parse", "HEAD", cwd=path) == commit and not git("status", "--porcelain", cwd=path):
                return path, commit
        except subprocess.CalledProcessError:
            pass
        raise SystemExit(f"ab: {path} exists but is not a clean checkout of {commit[:12]}; remove it "
                         f"(git worktree remove --force {path}) and run again")
    git("worktree", "prune")
    git("worktree", "add", "--detach", "--quiet", path, commit)
    return path, commit


def run_bench(tree: str, script: str, bench_args: list[str], timeout: float | None, verbose: bool) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = tree + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, os.path.join(tree, "bench", script), *bench_args, "--json"]
    p = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=None if verbose else subprocess.PIPE,
                       text=True, timeout=timeout)
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = "\n".join((p.stderr or "").splitlines()[-20:])
        raise SystemExit(f"ab: {' '.join(cmd)} failed (exit {p.returncode})\n{tail}")
    return json.loads(lines[-1])


def spread(values: list[float]) -> dict | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "n": len(values)}


def verdict(s: dict | None, better: str | None) -> str:
    """better/worse only when every round (3 or more) falls on the same side of 1."""
    if not s:
        return "-"
    if s["n"] < 3:
        return "(3+ rounds for a verdict)"
    if s["min"] > 1 or s["max"] < 1:
        higher = s["min"] > 1
        if better is None:
            return "higher" if higher else "lower"
        return "better" if (better == "higher") == higher else "worse"
    return "within noise"


def main() -> None:
    argv = sys.argv[1:]
    bench_argv: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, bench_argv = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 usage="%(prog)s --ref REV [--rounds N] [--clean] [--json] -- SCRIPT [bench args]")
    ap.add_argument("--ref", required=True, help="git revision to compare this tree with (from the commit that "
                                                  "added bench/harness.py on)")
    ap.add_argument("--rounds", type=int, default=5, help="runs of each version, alternating (default 5)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds allowed for one bench run")
    ap.add_argument("--clean", action="store_true", help="remove the ref's worktree afterwards")
    ap.add_argument("--json", action="store_true", help="also print one JSON line with every figure")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the benches' own output")
    args = ap.parse_args(argv)
    if not bench_argv:
        ap.error("name the bench after --, e.g. -- capture.py --quick")
    script = os.path.basename(bench_argv[0])
    script = script if script.endswith(".py") else script + ".py"
    bench_args = [a for a in bench_argv[1:] if a != "--json"]
    if not os.path.exists(os.path.join(ROOT, "bench", script)) or script in ("ab.py", "harness.py"):
        ap.error(f"no bench {script} in {os.path.join(ROOT, 'bench')}")

    commit = resolve(args.ref)
    for needed in ("bench/harness.py", f"bench/{script}"):
        if subprocess.run(["git", "cat-file", "-e", f"{commit}:{needed}"], cwd=ROOT, capture_output=True).returncode:
            raise SystemExit(f"ab: {args.ref} has no {needed}" + (": it predates the benches' --json line"
                                                                  if needed.endswith("harness.py") else ""))
    ref_tree, commit = worktree(commit)
    out = sys.stderr if args.json else sys.stdout

    def say(*a):
        print(*a, file=out, flush=True)

    named = args.ref if commit.startswith(args.ref) else f"{args.ref} ({commit[:12]})"
    say(f"ab: bench/{script} {' '.join(bench_args)}: ref {named} in {ref_tree} vs this tree "
        f"({ROOT}), {args.rounds} round(s)")
    runs: list[dict] = []
    try:
        for r in range(args.rounds):
            sides = [("ref", ref_tree), ("this", ROOT)]
            if r % 2:
                sides.reverse()
            got, took = {}, []
            for name, tree in sides:
                t = time.perf_counter()
                got[name] = run_bench(tree, script, bench_args, args.timeout, args.verbose)
                took.append(f"{name} {time.perf_counter() - t:.1f} s")
            runs.append(got)
            say(f"  round {r + 1}/{args.rounds}: " + ", ".join(took))
    finally:
        if args.clean:
            git("worktree", "remove", "--force", ref_tree)

    this_rows, ref_rows = runs[0]["this"]["rows"], runs[0]["ref"]["rows"]
    keys = [k for k in runs[0]["this"].get("headline", []) if k in ref_rows]
    missing = [k for k in runs[0]["this"].get("headline", []) if k not in ref_rows]
    result = {"bench": script, "ref": args.ref, "commit": commit, "rounds": args.rounds, "args": bench_args,
              "figures": {}, "noise": {}}
    for side in ("ref", "this"):
        values = [run[side]["noise"]["value"] for run in runs if run[side]["noise"]["value"] is not None]
        result["noise"][side] = max(values) if values else None

    def med(row: dict, what: str):
        s = row.get(what)
        return s["median"] if s else None

    table = []
    for k in keys:
        row, better = this_rows[k], this_rows[k].get("better")
        entry = {"label": row["label"].strip(), "unit": row["unit"], "better": better}
        for what in ("figure", "ratio"):
            if what == "ratio" and row.get("ratio") is None:
                continue
            pairs = [(med(run["ref"]["rows"][k], what), med(run["this"]["rows"][k], what)) for run in runs]
            ratios = [t / f if f and t is not None else None for f, t in pairs]
            s = spread(ratios)
            entry[what] = {"ref": spread([f for f, _ in pairs]), "this": spread([t for _, t in pairs]),
                           "this_over_ref": s, "verdict": verdict(s, better)}
            label = entry["label"] if what == "figure" else "  its ratio to the baseline"
            unit = row["unit"] if what == "figure" else "x"
            table.append([label, fmt(entry[what]["ref"], unit), fmt(entry[what]["this"], unit),
                          fmt(s, "x"), "-" if not s else f"{s['min']:.3f}-{s['max']:.3f}",
                          {"higher": "higher", "lower": "lower"}.get(better, "?"), entry[what]["verdict"]])
        result["figures"][k] = entry
    head = ["headline", "ref (median)", "this (median)", "this/ref", "min-max", "better", "verdict"]
    widths = [max(len(x[i]) for x in [head] + table) for i in range(len(head))]
    say()
    for x in [head] + table:
        say("  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(x, widths))).rstrip())
    n = result["noise"]
    say(f"noise (largest over the runs): ref {pct(n['ref'])}, this {pct(n['this'])}; this/ref is the median over "
        f"rounds of the ratio of the two runs' medians")
    if missing:
        say(f"note: headline figures the ref does not have: {', '.join(missing)}")
    if args.json:
        print(json.dumps(result, separators=(",", ":")), flush=True)


def fmt(s: dict | None, unit: str) -> str:
    if not s:
        return "-"
    v = s["median"]
    if unit == "x":
        return (f"{v:.3f}" if abs(v) < 10 else f"{v:.3g}") + "x"
    text = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return f"{text} {unit}".rstrip()


def pct(v) -> str:
    return "-" if v is None else f"{v:.0%}"


if __name__ == "__main__":
    main()
