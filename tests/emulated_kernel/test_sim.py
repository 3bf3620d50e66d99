"""Simulator: invariants (property-based), known answers, determinism, the CLI's bad inputs."""

from __future__ import annotations

import json
import math
import time

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cvbench.commands.parsing import parse_cores, parse_duration
from cvbench.commands.simulate import simulate_cmd
from cvbench.emulated_kernel.predict.trace import TraceError, parse_trace, predict_processes
from cvbench.emulated_kernel.sim import TaskSpec, simulate

MS = 1_000_000
S = 1_000_000_000
POLS = ["fifo", "rr", "cfs", "eevdf"]


def shares(res):
    tot = sum(t.cpu_ns for t in res.tasks)
    return [t.cpu_ns / tot for t in res.tasks]


# --------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("pol", ["rr", "cfs", "eevdf"])
def test_two_equal_tasks_share_one_core_evenly(pol):
    res = simulate([TaskSpec([math.inf]), TaskSpec([math.inf])], 1, pol, duration_ns=2 * S)
    a, b = shares(res)
    assert abs(a - 0.5) < 0.005
    assert res.tasks[0].cpu_ns + res.tasks[1].cpu_ns == 2 * S


@pytest.mark.parametrize("pol", ["cfs", "eevdf"])
def test_nice_0_vs_5_is_1024_to_335(pol):
    res = simulate([TaskSpec([math.inf], nice=0), TaskSpec([math.inf], nice=5)], 1, pol,
                   duration_ns=10 * S)  # fmt: skip
    a, _ = shares(res)
    assert a == pytest.approx(1024 / (1024 + 335), abs=0.003)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), q=st.integers(1, 5 * MS), m=st.integers(0, 5), r=st.integers(1, 5))
def test_rr_textbook_turnaround(n, q, m, r):
    """n tasks of burst b = m*q + r' (0 < r' <= q) at t=0: task i ends at m*n*q + (i+1)*r'."""
    rp = max(1, q * r // 5)
    b = m * q + rp
    res = simulate([TaskSpec([b]) for _ in range(n)], 1, "rr", slice_ns=q)
    assert [t.turnaround_ns for t in res.tasks] == [m * n * q + (i + 1) * rp for i in range(n)]


def test_fifo_never_preempts():
    specs = [TaskSpec([30 * MS, 20 * MS], ios=[5 * MS]), TaskSpec([math.inf]),
             TaskSpec([10 * MS])]  # fmt: skip
    res = simulate(specs, 1, "fifo", duration_ns=1 * S, record=True)
    assert all(t.involuntary == 0 for t in res.tasks)
    # t0 runs 30 ms, blocks; t1 never gives the core back: t0 and t2 starve
    assert res.tasks[1].cpu_ns == 1 * S - 30 * MS
    assert res.tasks[2].cpu_ns == 0
    assert res.segments == [(0, 0, 0, 30 * MS), (0, 1, 30 * MS, 1 * S)]


def test_yield_under_fifo_passes_the_core():
    res = simulate([TaskSpec([MS] * 3, ios=[0, 0]), TaskSpec([MS] * 3, ios=[0, 0])], 1, "fifo",
                   record=True)  # fmt: skip
    assert [s[1] for s in res.segments] == [0, 1, 0, 1, 0, 1]
    assert res.tasks[0].voluntary == 2 and res.tasks[0].involuntary == 0


def test_blocking_frees_the_core():
    res = simulate([TaskSpec([10 * MS, 10 * MS], ios=[50 * MS]), TaskSpec([40 * MS])], 1, "fifo")
    assert res.tasks[0].turnaround_ns == 70 * MS
    assert res.tasks[0].voluntary == 1
    assert res.makespan_ns == 70 * MS
    assert res.utilization == pytest.approx(60 / 70)


def test_endless_needs_duration_and_duration_bounds_the_run():
    with pytest.raises(ValueError, match="duration"):
        simulate([TaskSpec([math.inf])], 1)
    res = simulate([TaskSpec([math.inf]) for _ in range(5)], 3, "eevdf", duration_ns=S)
    assert res.end_ns == S and res.finished == 0
    assert sum(t.cpu_ns for t in res.tasks) == 3 * S  # no core idles


def test_affinity_naming_no_core_is_rejected():
    with pytest.raises(ValueError, match="names no core"):
        simulate([TaskSpec([MS], affinity=frozenset({7}))], 2)


def test_migrations_and_idle_pull():
    # 3 tasks on 2 cores: the third waits on core 0, then core 1 (free first) pulls it
    specs = [TaskSpec([100 * MS]), TaskSpec([10 * MS]), TaskSpec([100 * MS])]
    res = simulate(specs, 2, "fifo")
    assert res.tasks[2].migrations == 1
    assert res.tasks[2].turnaround_ns == 110 * MS


def test_determinism():
    specs = [
        TaskSpec(
            [3 * MS, 7 * MS, 2 * MS],
            ios=[1 * MS, 4 * MS],
            nice=i % 7 - 3,
            affinity=frozenset({i % 3, 2}) if i % 4 else None,
        )
        for i in range(40)
    ]
    runs = []
    for _ in range(2):
        d = simulate(specs, 3, "eevdf", ctx_switch_ns=3000).to_dict()
        d.pop("wall_s")
        d.pop("events_per_s")
        runs.append(json.dumps(d, sort_keys=True))
    assert runs[0] == runs[1]


# --------------------------------------------------------------------------- properties
task_st = st.builds(
    lambda bursts, ios, nice, aff, arr: TaskSpec(bursts, ios, nice, aff, arr),
    st.lists(st.integers(0, 20 * MS), min_size=1, max_size=4),
    st.lists(st.integers(0, 10 * MS), max_size=3),
    st.integers(-5, 10),
    st.one_of(st.none(), st.frozensets(st.integers(0, 3), min_size=1)),
    st.integers(0, 30 * MS),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(task_st, min_size=1, max_size=9), st.integers(1, 4), st.sampled_from(POLS),
       st.sampled_from([0, 2000]))  # fmt: skip
def test_invariants(specs, cores, pol, cs):
    specs = [s for s in specs if s.affinity is None or min(s.affinity) < cores]
    if not specs:
        return
    res = simulate(specs, cores, pol, ctx_switch_ns=cs, record=True, check=True)
    assert res.finished == len(specs)
    for spec, t in zip(specs, res.tasks, strict=True):
        assert t.cpu_ns == sum(spec.bursts)  # total CPU time == sum of bursts
        assert t.turnaround_ns >= sum(spec.bursts)
    by_cpu: dict[int, list] = {}
    by_task: dict[int, list] = {}
    for c, tid, a, b in res.segments:
        assert a < b
        aff = res.tasks[tid].affinity
        assert aff is None or c in aff  # affinity never violated
        by_cpu.setdefault(c, []).append((a, b))
        by_task.setdefault(tid, []).append((a, b))
    for segs in (*by_cpu.values(), *by_task.values()):
        segs.sort()
        assert all(x[1] <= y[0] for x, y in zip(segs, segs[1:], strict=False))  # no overlap
    for tid, segs in by_task.items():
        assert sum(b - a for a, b in segs) == res.tasks[tid].cpu_ns


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.sampled_from(["rr", "cfs", "eevdf"]))
def test_work_conservation_with_endless_tasks(cores, n, pol):
    res = simulate([TaskSpec([math.inf], nice=i % 3) for i in range(n)], cores, pol,
                   duration_ns=200 * MS, check=True)  # fmt: skip
    assert sum(t.cpu_ns for t in res.tasks) == min(cores, n) * 200 * MS


def test_scale_1024_cores_10k_tasks():
    t0 = time.perf_counter()
    res = simulate([TaskSpec([10 * MS]) for _ in range(10_000)], 1024, "eevdf")
    assert time.perf_counter() - t0 < 10
    assert res.finished == 10_000
    assert res.makespan_ns <= 10_000 * 10 * MS // 1024 + 10 * MS


# --------------------------------------------------------------------------- trace
def _trace(n=8, service=0.01, io=0.0, workers=2):
    return {"schema": 1, "workload": "w", "workers": workers,
            "items": [{"service_s": service, "io_s": io}] * n}  # fmt: skip


def test_trace_pool_prediction():
    tr = parse_trace(_trace(8, 0.01))
    assert predict_processes(tr, 2, 2).makespan_s == pytest.approx(0.04)
    assert predict_processes(tr, 1, 2).makespan_s == pytest.approx(0.08)
    assert predict_processes(tr, 4, 2).makespan_s == pytest.approx(0.04)
    io_tr = parse_trace(_trace(8, 0.01, io=0.01))
    p = predict_processes(io_tr, 4, 2, "fifo")
    assert p.makespan_s == pytest.approx(0.05)  # I/O overlaps with the others' CPU
    assert p.throughput_per_s == pytest.approx(8 / 0.05)
    # time-sharing 4 workers on 2 cores delays every item: no better than run-to-completion
    assert predict_processes(io_tr, 4, 2, "eevdf").makespan_s >= 0.05
    assert p.to_dict()["predicted"] is True


@pytest.mark.parametrize("bad", [
    [], {"schema": 2}, {**_trace(), "workers": 0}, {**_trace(), "items": []},
    {**_trace(), "items": [{"io_s": 1}]}, {**_trace(), "items": [{"service_s": "x"}]},
    {**_trace(), "workload": ""}, {**_trace(), "items": [{"service_s": float("nan")}]},
])  # fmt: skip
def test_malformed_trace(bad):
    with pytest.raises(TraceError):
        parse_trace(bad)


# --------------------------------------------------------------------------- CLI
def test_parsers():
    assert parse_duration("10ms") == 10 * MS
    assert parse_duration("2s") == 2 * S
    assert parse_duration("750us") == 750_000
    assert math.isinf(parse_duration("inf", allow_inf=True))
    assert parse_cores("64..1024") == [64, 128, 256, 512, 1024]
    assert parse_cores("3..10") == [3, 6, 10]


def _run(args):
    return CliRunner().invoke(simulate_cmd, args)


@pytest.mark.parametrize("args", [
    ["--policy", "lottery"], ["--cores", "0"], ["--cores", "-3"], ["--cores", "8..2"],
    ["--slice", "0"], ["--slice", "abc"], ["--cores", "2", "--affinity", "4-5"],
    ["--burst", "inf"], ["--nice", "0,40"], ["--trace", "/nonexistent/trace.json"],
    ["--tasks", "0"],
])  # fmt: skip
def test_cli_bad_input_exits_2(args):
    r = _run(args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "Error:" in r.output


def test_cli_malformed_trace_exits_2(tmp_path):
    f = tmp_path / "t.json"
    f.write_text("{not json")
    r = _run(["--trace", str(f)])
    assert r.exit_code == 2 and "not valid JSON" in r.output
    f.write_text(json.dumps({**_trace(), "items": [{"service_s": -1}]}))
    r = _run(["--trace", str(f)])
    assert r.exit_code == 2 and "items[0].service_s" in r.output


def test_cli_simulate_json(tmp_path):
    out = tmp_path / "o.json"
    r = _run(["--tasks", "4", "--cores", "1", "--nice", "0,5", "--burst", "inf",
              "--duration", "1s", "--policy", "cfs", "--json", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    run = d["runs"][0]
    assert run["events_per_s"] > 0
    assert len(run["per_task"]) == 4
    assert sum(t["cpu_share"] for t in run["per_task"]) == pytest.approx(1.0, abs=1e-6)


def test_cli_sweep_and_trace(tmp_path):
    r = _run(["--tasks", "64", "--cores", "2..8", "--burst", "5ms"])
    assert r.exit_code == 0, r.output
    assert "speedup" in r.output
    f = tmp_path / "t.json"
    f.write_text(json.dumps(_trace(40, 0.002)))
    r = _run(["--trace", str(f), "--cores", "2", "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert "predicted processes model" in r.output


# ------------------------------------------------------------------ bit-for-bit regression
# Digests of SimResult.to_dict() (minus the wall-clock fields) plus the recorded segments, as
# produced by the simulator before its hot loop was optimised: any change of semantics shows.
_GOLDEN = {
    "fifo": ("3cdefdd4df0eae48", "ec236ec19c5902f1"),
    "rr": ("d429dd744e12a885", "7af2fcd9250fcac0"),
    "cfs": ("d39c61d828ba3974", "4825200995fcb5a4"),
    "eevdf": ("fbcbf4d128fcb46f", "852e58621b404be9"),
}


def _digest(res):
    import hashlib

    d = res.to_dict()
    d.pop("wall_s")
    d.pop("events_per_s")
    d["segments"] = res.segments
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize("pol", POLS)
def test_results_are_bit_for_bit_unchanged(pol):
    from cvbench.emulated_kernel.sim import PoolSpec

    endless = [TaskSpec([math.inf], nice=n) for n in (0, 5, -3, 0, 10)]
    mixed = [
        TaskSpec([3 * MS, 2 * MS, 4 * MS], ios=[MS, 0], nice=i % 3,
                 affinity=None if i % 2 else frozenset({i % 3}))
        for i in range(7)
    ]  # fmt: skip
    a = _digest(simulate(endless, 2, pol, duration_ns=200 * MS, record=True))
    b = _digest(simulate(mixed, 3, pol, pools=[PoolSpec([(MS, 2 * MS)] * 9, 2)],
                         ctx_switch_ns=5000, record=True, check=True))  # fmt: skip
    assert (a, b) == _GOLDEN[pol]


# ------------------------------------------------------------- --model: pool-model what-if
def _cost_trace(tmp_path, split=True, costs=True):
    item = {"service_s": 0.001, "io_s": 0.0, "bytes_in": 100_000, "bytes_out": 64}
    if split:
        item["released_s"] = 0.0008
    doc = {"schema": 1, "workload": "w", "workers": 1, "items": [item] * 40}
    if costs:
        doc["costs"] = {"pickle_pipe_s_per_byte": 2e-9, "round_trip_s": 1e-4, "offload_s": 5e-5}
    f = tmp_path / "t.json"
    f.write_text(json.dumps(doc))
    return str(f)


def test_cli_model_sweep_shows_where_threads_and_processes_stop(tmp_path):
    out = tmp_path / "o.json"
    r = _run(["--trace", _cost_trace(tmp_path), "--model", "threads,processes,asyncio",
              "--cores", "2..16", "--json", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "GIL" in r.output and "parent" in r.output
    d = json.loads(out.read_text())
    preds = d["predictions"]
    assert [p["model"] for p in preds].count("threads") == 4  # 2, 4, 8, 16 cores
    assert [p["model"] for p in preds].count("asyncio") == 1  # inline: one row
    thr = [p for p in preds if p["model"] == "threads"]
    assert thr[-1]["bottleneck"] == "GIL" and all(p["predicted"] for p in preds)


def test_cli_model_with_an_old_trace(tmp_path):
    f = _cost_trace(tmp_path, split=False, costs=False)
    r = _run(["--trace", f, "--model", "threads"])
    assert r.exit_code == 2 and "gil_s" in r.output and "Traceback" not in r.output
    r = _run(["--trace", f, "--model", "all", "--cores", "2"])
    assert r.exit_code == 0, r.output
    assert "skipped threads" in r.output and "no calibration costs" in r.output


@pytest.mark.parametrize("args", [
    ["--model", "threads"], ["--model", "kernel-proc", "--trace", "T"], ["--cost", "offload_s=1"],
    ["--trace", "T", "--cost", "offload_s=1"],
    ["--model", "threads", "--trace", "T", "--cost", "nope=1"],
    ["--model", "threads", "--trace", "T", "--cost", "offload_s=-1"],
    ["--model", "threads", "--trace", "T", "--cost", "offload_s"],
])  # fmt: skip
def test_cli_model_bad_input_exits_2(tmp_path, args):
    f = _cost_trace(tmp_path)
    r = _run([f if a == "T" else a for a in args])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "Error:" in r.output


def test_cli_cost_override_changes_the_prediction(tmp_path):
    f = _cost_trace(tmp_path)
    outs = []
    for extra in ([], ["--cost", "pickle_pipe_s_per_byte=0"]):
        out = tmp_path / f"o{len(outs)}.json"
        r = _run(["--trace", f, "--model", "processes", "--cores", "4", "--json", str(out), *extra])
        assert r.exit_code == 0, r.output
        outs.append(json.loads(out.read_text())["predictions"][0]["wall_s"])
    assert outs[1] < outs[0]
