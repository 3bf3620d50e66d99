"""Measure the regression gate's error rates on this machine (`make gate-eval`).

Runs 2K+1 `cvbench run --quick` jobs in the order A0 B0 A1 B1 ... AK, where A is the code as
it is and B runs the faces workload with a finer detection pyramid (really ~20-25 % more work,
workloads/eval/faces-heavier.toml). Then it gates K A/A pairs (A_i, A_i+1: nothing changed, so
every regression is a false alarm) and K A/B pairs (A_i, B_i: every faces group really slowed
down, so each one the gate passes is a miss) with `cvbench compare` at its default settings,
and prints the false-alarm rate and the detection rate per group.

This is an evaluation, not a test: it takes ~(2K+1) x 20 s and its numbers depend on the
machine. Usage: python scripts/gate_eval.py [--pairs K] [--out DIR] [-- extra run options]

--ab evaluates `cvbench ab` (base and head interleaved in one job) instead: --aa-jobs A/A jobs
(default 20), --jobs jobs where head's faces do ~21 % more work and as many with ~5 % more
(workloads/eval/faces-plus.toml with k extra blurs per item, same output; k is chosen from a
measurement and the real cost printed first), each a default `cvbench ab --quick` job; it
prints the jobs that flagged anything and the detection rates:
python scripts/gate_eval.py --ab [--jobs N] [--aa-jobs M]
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
PLUS = ROOT / "workloads" / "eval" / "faces-plus.toml"  # CVBENCH_EVAL_BLURS extra work


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


# --ab: in-job A/B jobs (`cvbench ab`, issue 19). Both sides run faces-plus.toml (the built-in
# faces through eval_ops.faces_plus); head adds k blurs per item, k measured for +21 % and +5 %
# (the heavier faces TOML finds other boxes, so an A/B job rightly calls it "output changed").
TARGETS = {"plus21": 0.21, "plus5": 0.05}


def ab_job(out: Path, variant: str, blurs: int, extra: list[str]) -> dict:
    """One `cvbench ab --quick` job; its JSON document (verdicts per cell)."""
    doc = out / f"ab-{variant}-{time.time_ns()}.json"
    head = ["--head-env", f"CVBENCH_EVAL_BLURS={blurs}"] if blurs else []
    cmd = [sys.executable, "-m", "cvbench.cli", "ab", "--quick", "-w", f"threshold,{PLUS}",
           "--pythonpath", str(PLUS.parent), "--json", str(doc), *head, *extra]  # fmt: skip
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode not in (0, 1):
        sys.exit(f"ab failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    ab = json.loads(doc.read_text())["ab"]
    verdicts = {c["cell"]: c["verdict"] for c in ab["cells"]}
    flagged = {c: v for c, v in verdicts.items() if v in ("slower", "faster")}
    print(f"  {variant:10} {time.monotonic() - t0:5.1f} s, exit {res.returncode}, "
          f"{ab['rounds']} rounds: {flagged or 'nothing flagged'}; "
          f"{sum(v == 'inconclusive' for v in verdicts.values())} inconclusive, "
          f"{sum(v == 'output changed' for v in verdicts.values())} output changed",
          flush=True)  # fmt: skip
    return {"variant": variant, "exit": res.returncode, "verdicts": verdicts,
            "rounds": ab["rounds"], "wall_s": ab["wall_s"]}  # fmt: skip


def measure_cost(blurs: int, reps: int = 15) -> float:
    """The real cost of k extra blurs: min-of-reps time of the quick faces frames through
    faces_plus with and without CVBENCH_EVAL_BLURS=k, in one process, interleaved."""
    code = f"""
import os, sys, time, cv2
cv2.setNumThreads(1)
sys.path.insert(0, {str(PLUS.parent)!r})
import eval_ops
from cvbench.workloads import load_spec
from cvbench.workloads.sources import JobOptions, build_job
with build_job(load_spec({str(PLUS)!r}), JobOptions(preset="quick")) as job:
    items = list(job.payloads)
best = {{"0": 1e9, "1": 1e9}}
for _ in range({reps}):
    for on in ("0", "1"):
        os.environ["CVBENCH_EVAL_BLURS"] = "{blurs}" if on == "1" else "0"
        t0 = time.perf_counter()
        for img in items:
            eval_ops.faces_plus(img)
        best[on] = min(best[on], time.perf_counter() - t0)
print(best["1"] / best["0"])
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        sys.exit(f"cost measurement failed: {res.stderr.strip().splitlines()[-1:]}")
    return float(res.stdout.strip().splitlines()[-1])


def main_ab(args: argparse.Namespace, extra: list[str]) -> None:
    """N A/A jobs, N +21 % and N +5 % jobs, interleaved; false alarms and detection rates."""
    n = args.jobs
    per_blur = max(1e-4, (measure_cost(200) - 1) / 200)  # many blurs: a cost above the noise
    blurs = {v: max(1, round(t / per_blur)) for v, t in TARGETS.items()}
    cost = {v: measure_cost(k) for v, k in blurs.items()}
    for v, k in blurs.items():
        print(f"{v}: {k} extra blurs per item, measured real cost x{cost[v]:.3f}", flush=True)
    jobs = []
    for i in range(max(n, args.aa_jobs)):
        if i < args.aa_jobs:
            jobs.append(ab_job(args.out, "aa", 0, extra))
        if i < n:
            jobs.append(ab_job(args.out, "plus21", blurs["plus21"], extra))
            jobs.append(ab_job(args.out, "plus5", blurs["plus5"], extra))
    aa = [j for j in jobs if j["variant"] == "aa"]
    aa_flagged = sum(any(v in ("slower", "faster") for v in j["verdicts"].values()) for j in aa)
    report: dict = {"blurs": blurs, "real_cost": cost, "aa_jobs": len(aa),
                    "aa_jobs_flagging_anything": aa_flagged, "jobs": jobs}  # fmt: skip
    print(f"\nA/A: {aa_flagged} of {len(aa)} jobs flagged a cell")
    for variant in TARGETS:
        runs = [j for j in jobs if j["variant"] == variant]
        caught = sum(
            any(c.startswith("faces/") and v == "slower" for c, v in j["verdicts"].items())
            for j in runs
        )
        per_cell: dict[str, int] = defaultdict(int)
        for j in runs:
            for c, v in j["verdicts"].items():
                per_cell[c] += c.startswith("faces/") and v == "slower"
        report[variant] = {"jobs": len(runs), "caught": caught, "per_cell": dict(per_cell)}
        print(f"{variant}: {caught} of {len(runs)} jobs called a faces cell slower; per cell: "
              + ", ".join(f"{c} {k}/{len(runs)}" for c, k in per_cell.items()))  # fmt: skip
    (args.out / "gate-eval-ab.json").write_text(json.dumps(report, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10, help="K A/A and K A/B pairs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gate-eval")
    parser.add_argument("--ab", action="store_true", help="evaluate `cvbench ab` instead")
    parser.add_argument("--jobs", type=int, default=10, help="--ab: jobs per slower variant")
    parser.add_argument("--aa-jobs", type=int, default=20, help="--ab: A/A jobs")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.ab:
        main_ab(args, extra)
        return
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
