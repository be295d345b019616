"""Two checkouts of this repository measured side by side: the same benchmark run in
each in turn (this checkout, then the other, `--runs` times), on the same database and
Redis, each with its own code and virtual environment; the figures of every run and
their medians.

    .venv/bin/python -m bench.side_by_side --other ../baseline-checkout redeem
    .venv/bin/python -m bench.side_by_side --other ../baseline-checkout points_read

Make the other checkout with `git worktree add ../baseline-checkout <commit>` and
`make install` there. Alternating runs spread a change in the (shared) machine's speed
over both sides; run it on an otherwise idle machine.

- `redeem`: `bench/redeem.py` (verify + redeem pairs per second, 32 clients; its
  BENCH_* settings apply to both sides); the figure is pairs/s, and the ratio this /
  other of each pair of runs.
- `points_read`: `bench.points_read` (the cached read against a bare Flask endpoint
  served the same way, alternating inside each run too); the figure is the cached read
  as a share of the bare endpoint.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BENCHES = {
    # name: (arguments after the checkout's python, [(figure, pattern)])
    "redeem": (["bench/redeem.py"], [
        ("pairs/s", r"pairs/s=([\d.]+)"),
        ("p99 ms", r"p99=([\d.]+)ms"),
        ("CPU ms/pair", r"\(all: ([\d.]+) ms"),
    ]),
    "points_read": (["-m", "bench.points_read"], [
        ("share of bare %", r"ratio app / baseline[^:]*: (\d+)%"),
        ("app req/s", r"app req/s \(median\): ([\d.]+)"),
        ("bare req/s", r"baseline req/s \(median\): ([\d.]+)"),
    ]),
}


def run_once(root: Path, bench: str, extra: list[str]) -> dict[str, float]:
    arguments, figures = BENCHES[bench]
    python = root / ".venv/bin/python"
    done = subprocess.run([str(python), *arguments, *extra], cwd=root, capture_output=True, check=False,
                          text=True, env={**os.environ, "PYTHONPATH": str(root)})
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{bench} failed in {root}")
    found = {}
    for name, pattern in figures:
        match = re.search(pattern, done.stdout)
        if match is None:
            sys.stderr.write(done.stdout)
            raise SystemExit(f"{bench} in {root} printed no {name}")
        found[name] = float(match.group(1))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", choices=sorted(BENCHES))
    parser.add_argument("--other", required=True, type=Path, help="the other checkout")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="arguments for the benchmark (after --)")
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / ".venv/bin/python").exists():
        raise SystemExit(f"{other} has no .venv: run `make install` there")
    sides = {"this": ROOT, "other": other}
    results: dict[str, list[dict[str, float]]] = {"this": [], "other": []}
    head = {side: subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=False,
                                 capture_output=True, text=True).stdout.strip()
            for side, root in sides.items()}
    print(f"{args.bench}: this = {ROOT} ({head['this']}), other = {other} ({head['other']})")
    first = BENCHES[args.bench][1][0][0]
    for run in range(args.runs):
        for side, root in sides.items():
            results[side].append(run_once(root, args.bench, args.extra))
        this, that = results["this"][-1][first], results["other"][-1][first]
        print(f"  run {run + 1}: " + "; ".join(
            f"{side} " + ", ".join(f"{k} {v:g}" for k, v in results[side][-1].items())
            for side in sides) + f"; this/other {this / that:.0%}", flush=True)
    print("medians:")
    for side in sides:
        print(f"  {side}: " + ", ".join(
            f"{name} {statistics.median(r[name] for r in results[side]):g}"
            for name, _ in BENCHES[args.bench][1]))
    ratios = [t[first] / o[first] for t, o in zip(results["this"], results["other"], strict=True)]
    print(f"  this / other ({first}): median {statistics.median(ratios):.0%} "
          f"(runs {min(ratios):.0%}–{max(ratios):.0%})")


if __name__ == "__main__":
    main()
