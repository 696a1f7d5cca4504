"""Benchmark of the CI runner: overhead per ``run`` step and a 100-job matrix workflow.

Run ``.venv/bin/python benchmarks/ci_runner.py [--quick]``. It measures, through the whole
runner (``WorkflowRunner`` → ``run_job`` → the host executor, on the real clock):

- **overhead per ``run`` step**: one job of N trivial ``run: true`` steps, against spawning
  ``bash --noprofile --norc -eo pipefail SCRIPT`` N times directly (the command the runner
  spawns for each step, with a script file written first as the runner does). The runner's
  per-step cost is the slope between a job of N steps and a job of one step, so the run's
  fixed cost (temporary directories, the event file, the first step) is left out; the
  overhead is that slope minus the direct spawn time per step. Target: under 30 ms per step.
  The ratio (runner per step / direct per step) is reported too.
- **a 100-job matrix workflow** end to end (matrix expansion, scheduling on the runner's job
  pool, one ``run`` step per job, the run and job logs persisted in an in-memory store):
  wall seconds and jobs per second.

Each figure is the median of several repetitions. It prints a table, then ONE JSON line with
every figure, the targets and a pass flag per target. ``--quick`` uses fewer steps and
repetitions (well under a minute).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.ci.actions import default_actions
from shipyard.ci.orchestrator import RunRequest, RunResult, WorkflowRunner
from shipyard.ci.records import ci_kinds
from shipyard.ci.workflow import parse_workflow
from shipyard.core.clock import RealClock
from shipyard.platform.wiring import memory_cluster, platform_scheme
from shipyard.store.scheme import Scheme
from shipyard.store.store import Store

TARGET_OVERHEAD_MS = 30.0
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


def steps_workflow(steps: int) -> str:
    lines = ["on: push", "jobs:", "  steps:", "    runs-on: ubuntu-latest", "    steps:"]
    lines += ['      - run: "true"'] * steps
    return "\n".join(lines) + "\n"


def matrix_workflow(jobs: int) -> str:
    values = ", ".join(str(i) for i in range(jobs))
    return (
        "on: push\njobs:\n  wide:\n    runs-on: ubuntu-latest\n    strategy:\n"
        f"      matrix:\n        n: [{values}]\n    steps:\n"
        '      - run: echo "job ${{ matrix.n }}"\n'
    )


def _scheme() -> Scheme:
    scheme = platform_scheme()
    for info in ci_kinds():  # adding a served kind again is harmless
        scheme.add(info)
    return scheme


def run_once(root: Path, text: str, store: Store | None) -> tuple[float, RunResult]:
    workflow = parse_workflow(text, file=".github/workflows/bench.yml")
    runner = WorkflowRunner(clock=RealClock(), store=store, actions=default_actions())
    payload = {"ref": "refs/heads/main", "after": "0" * 39 + "1", "before": "0" * 40}
    request = RunRequest(workflow, "push", root, payload=payload, repository="bench/ci")
    start = time.perf_counter()
    result = runner.run(request)
    elapsed = time.perf_counter() - start
    if result.conclusion != "success":
        raise SystemExit(f"benchmark run did not succeed: {result.conclusion} {result.message}")
    return elapsed, result


def direct_spawns(root: Path, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        script = root / f"direct-{i}.sh"
        script.write_text("true\n")
        subprocess.run([*BASH, str(script)], cwd=root, check=True, env=dict(os.environ))
    return time.perf_counter() - start


def median(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def step_overhead(root: Path, steps: int, repeats: int) -> dict[str, Any]:
    one = median(lambda: run_once(root, steps_workflow(1), None)[0], repeats)
    many = median(lambda: run_once(root, steps_workflow(steps), None)[0], repeats)
    direct = median(lambda: direct_spawns(root, steps), repeats)
    runner_ms = (many - one) / (steps - 1) * 1000
    direct_ms = direct / steps * 1000
    return {
        "steps": steps,
        "job_of_1_step_s": round(one, 4),
        f"job_of_{steps}_steps_s": round(many, 4),
        "runner_ms_per_step": round(runner_ms, 3),
        "direct_spawn_ms_per_step": round(direct_ms, 3),
        "overhead_ms_per_step": round(runner_ms - direct_ms, 3),
        "ratio": round(runner_ms / direct_ms, 2) if direct_ms else None,
    }


def matrix_run(root: Path, jobs: int, repeats: int) -> dict[str, Any]:
    times = []
    for _ in range(repeats):
        store = memory_cluster(RealClock(), scheme=_scheme())
        elapsed, result = run_once(root, matrix_workflow(jobs), store)
        if len(result.jobs) != jobs:
            raise SystemExit(f"expected {jobs} jobs, the run had {len(result.jobs)}")
        times.append(elapsed)
        store.close()
    wall = statistics.median(times)
    return {"jobs": jobs, "wall_seconds": round(wall, 3), "jobs_per_s": round(jobs / wall, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repetitions")
    args = parser.parse_args(argv)
    steps, repeats = (30, 3) if args.quick else (100, 5)
    with tempfile.TemporaryDirectory(prefix="shipyard-ci-bench-") as tmp:
        root = Path(tmp)
        overhead = step_overhead(root, steps, repeats)
        matrix = matrix_run(root, 100, 1 if args.quick else 3)
    print(f"{'runner per step':<28}{overhead['runner_ms_per_step']:>10.2f} ms")
    print(f"{'direct bash per step':<28}{overhead['direct_spawn_ms_per_step']:>10.2f} ms")
    print(f"{'overhead per step':<28}{overhead['overhead_ms_per_step']:>10.2f} ms")
    print(f"{'100-job matrix':<28}{matrix['wall_seconds']:>10.2f} s  "
          f"({matrix['jobs_per_s']:.1f} jobs/s)")  # fmt: skip
    figures = {
        "quick": args.quick,
        "step_overhead": overhead,
        "matrix_100": matrix,
        "targets": {"overhead_ms_per_step": ("<", TARGET_OVERHEAD_MS)},
        "pass": {"overhead_ms_per_step": overhead["overhead_ms_per_step"] < TARGET_OVERHEAD_MS},
    }
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
