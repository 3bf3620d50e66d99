"""Measure the regression gate's error rates on this machine (`make gate-eval`).

Runs 2K+1 `cvbench run --quick` jobs in the order A0 B0 A1 B1 ... AK, where A is the code as
it is and B runs the faces workload with a finer detection pyramid (really ~20-25 % more work,
workloads/eval/faces-heavier.toml). Then it gates K A/A pairs (A_i, A_i+1: nothing changed, so
every regression is a false alarm) and K A/B pairs (A_i, B_i: every faces group really slowed
down, so each one the gate passes is a miss) with `cvbench compare` at its default settings,
and prints the false-alarm rate and the detection rate per group.

This is an evaluation, not a test: it takes ~(2K+1) x 20 s and its numbers depend on the
machine. Usage: python scripts/gate_eval.py [--pairs K] [--out DIR] [-- extra run options]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVIER = ROOT / "workloads" / "eval" / "faces-heavier.toml"


def run(out: Path, heavier: bool, extra: list[str]) -> Path:
    csv = out / f"{'B' if heavier else 'A'}-{time.time_ns()}.csv"
    workloads = f"threshold,{HEAVIER}" if heavier else "threshold,faces"
    cmd = [sys.executable, "-m", "cvbench.cli", "run", "--quick", "--brief", "-w", workloads,
           "--csv", str(csv), "--json", str(csv.with_suffix(".json")), *extra]  # fmt: skip
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        sys.exit(f"run failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    print(f"  {csv.name}: {time.monotonic() - t0:.1f} s", flush=True)
    return csv


def gate(base: Path, current: Path, out: Path) -> dict[str, str]:
    """group -> verdict, from `cvbench compare`'s Markdown (its defaults, exit code checked)."""
    md = out / f"cmp-{base.stem}-{current.stem}.md"
    res = subprocess.run(
        [sys.executable, "-m", "cvbench.cli", "compare", str(base), str(current),
         "--markdown", str(md)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if res.returncode not in (0, 1):
        sys.exit(f"compare failed: {res.stderr.strip()}")
    verdicts = {}
    for line in md.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 9 and cells[2].isdigit():
            verdicts[f"{cells[0]}/{cells[1]}/{cells[2]}w"] = cells[-1]
    if (res.returncode == 1) != any("regression" in v for v in verdicts.values()):
        sys.exit("compare's exit code disagrees with its table")
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10, help="K A/A and K A/B pairs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gate-eval")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    args.out.mkdir(parents=True, exist_ok=True)
    k = args.pairs
    print(f"{2 * k + 1} quick runs (A0 B0 A1 B1 ... A{k}) into {args.out}", flush=True)
    a_runs, b_runs = [], []
    for i in range(k + 1):
        a_runs.append(run(args.out, False, extra))
        if i < k:
            b_runs.append(run(args.out, True, extra))
    false_alarms: dict[str, int] = defaultdict(int)
    detected: dict[str, int] = defaultdict(int)
    aa_pairs_failing = 0
    for i in range(k):
        aa = gate(a_runs[i], a_runs[i + 1], args.out)
        regressed = [g for g, v in aa.items() if "regression" in v]
        aa_pairs_failing += bool(regressed)
        for g in regressed:
            false_alarms[g] += 1
        ab = gate(a_runs[i], b_runs[i], args.out)
        for g, v in ab.items():
            if g.startswith("faces/") and "regression" in v:
                detected[g] += 1
    groups = sorted(gate(a_runs[0], a_runs[1], args.out))
    faces = [g for g in groups if g.startswith("faces/")]
    report = {
        "pairs": k,
        "aa_pairs_with_a_false_regression": aa_pairs_failing,
        "false_alarms_per_group": {g: false_alarms[g] for g in groups},
        "detections_per_faces_group": {g: detected[g] for g in faces},
    }
    (args.out / "gate-eval.json").write_text(json.dumps(report, indent=1))
    total_fa = sum(false_alarms.values())
    print(f"\nA/A: {aa_pairs_failing} of {k} pairs had a false regression "
          f"({total_fa} false alarms over {k * len(groups)} group comparisons)")  # fmt: skip
    print(f"A/B (faces really ~20-25 % slower): detection per faces group, of {k} pairs:")
    for g in faces:
        print(f"  {g:32} {detected[g]:2d}/{k}   false alarms in A/A: {false_alarms[g]}/{k}")
    others = [g for g in groups if g not in faces and false_alarms[g]]
    for g in others:
        print(f"  {g:32} false alarms in A/A: {false_alarms[g]}/{k}")


if __name__ == "__main__":
    main()
