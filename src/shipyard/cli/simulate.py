"""``shipyard simulate SCENARIO.yaml``: compare node autoscaling strategies on one scenario.

The command reads and validates the scenario (:mod:`shipyard.sim.scenario`), runs each
strategy in virtual time with a progress bar (:mod:`shipyard.sim.runner`), prints the
comparison table and writes ``report.json``, ``report.html`` and the PNG charts into
``--out`` (:mod:`shipyard.sim.report`).

The strategies (``karpenter``, ``cluster-autoscaler``) are wired in
:mod:`shipyard.platform.simulation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from shipyard.core.errors import ShipyardError
from shipyard.platform.simulation import simulation_strategies
from shipyard.sim.report import build_report, render_table, write_outputs
from shipyard.sim.runner import run_scenario
from shipyard.sim.scenario import CLUSTER_AUTOSCALER, KARPENTER, Scenario, load_scenario

__all__ = ["simulate"]

STRATEGY_CHOICES = (KARPENTER, CLUSTER_AUTOSCALER, "all")


def simulate(
    scenario_file: Annotated[Path, typer.Argument(help="The scenario YAML file.")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="Override the scenario's seed.")
    ] = None,
    strategy: Annotated[
        str, typer.Option("--strategy", help="karpenter, cluster-autoscaler or all.")
    ] = "all",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write report.json, report.html, PNGs here.")
    ] = None,
) -> None:
    """Run node autoscaling strategies on a scenario in virtual time and compare them."""
    console = Console()
    try:
        scenario = _prepare(scenario_file, seed, strategy)
        with _ProgressBar(console, scenario) as (bar, tasks):

            def advance(name: str, done: float, total: float) -> None:
                bar.update(tasks[name], completed=done)

            result = run_scenario(scenario, simulation_strategies(), progress=advance)
    except ShipyardError as e:
        typer.echo(f"error: {e.message}", err=True)
        raise typer.Exit(1) from e
    report = build_report(result)
    console.print(render_table(report))
    if out is not None:
        written = write_outputs(report, result, out)
        for path in written:
            typer.echo(f"wrote {path}")


def _prepare(path: Path, seed: int | None, strategy: str) -> Scenario:
    if strategy not in STRATEGY_CHOICES:
        raise ShipyardError(
            f"--strategy must be one of {', '.join(STRATEGY_CHOICES)}, got {strategy!r}"
        )
    scenario = load_scenario(path)
    if seed is not None:
        if seed < 0:
            raise ShipyardError(f"--seed must not be negative, got {seed}")
        scenario = scenario.with_seed(seed)
    if strategy != "all":
        scenario = scenario.with_strategies([strategy])
    return scenario


class _ProgressBar:
    """A rich progress bar with one task per strategy, in simulated minutes."""

    def __init__(self, console: Console, scenario: Scenario) -> None:
        self._scenario = scenario
        self._bar = Progress(
            TextColumn("{task.description:<40}"),
            BarColumn(),
            TextColumn("{task.completed:>7.0f}/{task.total:.0f} s simulated"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> tuple[Progress, dict[str, TaskID]]:
        self._bar.__enter__()
        tasks = {
            name: self._bar.add_task(name, total=self._scenario.duration)
            for name in self._scenario.strategies
        }
        return self._bar, tasks

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)
