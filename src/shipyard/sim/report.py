"""Reports of a simulation: ``report.json``, a terminal table, PNG charts and an HTML page.

:func:`build_report` turns a :class:`~shipyard.sim.runner.SimulationResult` into plain data;
:func:`report_json` prints it **deterministically** — keys sorted, every float rounded to
4 decimals, no wall-clock value anywhere (times are seconds since the scenario started) — so
the same scenario and seed give byte-identical JSON. Per strategy it holds:

- ``cost``: ``total`` (USD billed during the run), ``averagePerHour`` (total over the hours
  simulated), ``perHourAtEnd`` (the running instances' rate when the run ended) and the
  monthly figures ``monthly`` = averagePerHour × 730 and ``monthlyAtEnd`` = perHourAtEnd × 730
  (730 hours a month, as AWS's calculator counts);
- ``pods``: how many started, how many were still pending at the end, and the pending →
  running time (creation to phase ``Running``) as ``p50``/``p95``/``max``/``mean`` seconds
  (nearest rank) and a histogram;
- ``nodes`` (most and last, instances launched by type and capacity type), ``evictions``,
  ``disruptions`` by reason, ``spotInterruptions``, the invariant checks and violations;
- ``samples``: every sampleInterval, the cost so far, the cost per hour, nodes, pending and
  running pods.

With both strategies, ``comparison`` gives each one's monthly cost, the saving of the
Karpenter-style strategy over the baseline in USD and percent (on the average and on the
end rate).

Charts are drawn with matplotlib's Agg backend (no display): ``overview.png`` (cost per
hour, cost so far, nodes, pending pods over time) and ``pods.png`` (each pod's pending →
running interval, thinned to at most 300 pods per strategy, and the distribution of pending
times). ``report.html`` is one self-contained page: the table, the charts embedded as base64
PNGs, and the JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from shipyard.sim.runner import Sample, SimulationResult, StrategyResult
from shipyard.sim.scenario import CLUSTER_AUTOSCALER, KARPENTER

__all__ = [
    "HOURS_PER_MONTH",
    "build_report",
    "percentile",
    "render_charts",
    "render_html",
    "render_table",
    "report_json",
    "write_outputs",
]

HOURS_PER_MONTH = 730.0
DECIMALS = 4
HISTOGRAM_BOUNDS = (10, 30, 60, 120, 180, 300, 600)
MAX_TIMELINE_PODS = 300


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q ≤ 1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def build_report(result: SimulationResult) -> dict[str, Any]:
    """The report as plain data (see the module docstring)."""
    scenario = result.scenario
    strategies = {r.name: _strategy(r) for r in result.results}
    report: dict[str, Any] = {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "durationSeconds": scenario.duration,
            "seed": scenario.seed,
            "sampleIntervalSeconds": scenario.sample_interval,
            "strategies": list(scenario.strategies),
        },
        "strategies": strategies,
    }
    if KARPENTER in strategies and CLUSTER_AUTOSCALER in strategies:
        report["comparison"] = _comparison(strategies[CLUSTER_AUTOSCALER], strategies[KARPENTER])
    rounded: dict[str, Any] = _rounded(report)
    return rounded


def report_json(report: dict[str, Any]) -> str:
    """The report as deterministic JSON text (sorted keys, rounded floats, final newline)."""
    return json.dumps(_rounded(report), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _strategy(r: StrategyResult) -> dict[str, Any]:
    hours = r.duration / 3600.0
    at_end = r.samples[-1].cost_per_hour if r.samples else 0.0
    average = r.total_cost / hours if hours else 0.0
    times = r.pending_times
    return {
        "title": r.title,
        "cost": {
            "total": r.total_cost,
            "averagePerHour": average,
            "perHourAtEnd": at_end,
            "monthly": average * HOURS_PER_MONTH,
            "monthlyAtEnd": at_end * HOURS_PER_MONTH,
        },
        "pods": {
            "started": len(times),
            "stillPending": len(r.still_pending),
            "longestStillPending": max(r.still_pending, default=0.0),
            "pendingSeconds": {
                "p50": percentile(times, 0.5),
                "p95": percentile(times, 0.95),
                "max": max(times, default=None),
                "mean": sum(times) / len(times) if times else None,
            },
            "pendingHistogram": _histogram(times),
        },
        "nodes": {
            "max": max((s.nodes for s in r.samples), default=0),
            "final": r.samples[-1].nodes if r.samples else 0,
            "launched": dict(r.launches),
        },
        "evictions": r.evictions,
        "disruptions": dict(r.disruptions),
        "spotInterruptions": r.spot_interruptions,
        "invariants": {
            "checks": r.checks,
            "violations": [
                {"kind": v.kind, "subject": v.subject, "message": v.message, "t": v.at}
                for v in r.violations
            ],
        },
        "samples": [
            {
                "t": s.t,
                "cost": s.cost,
                "costPerHour": s.cost_per_hour,
                "nodes": s.nodes,
                "pending": s.pending,
                "running": s.running,
            }
            for s in r.samples
        ],
    }


def _histogram(times: Sequence[float]) -> list[dict[str, Any]]:
    """Pods per pending-time bucket, in order: ``{"from": s, "to": s | None, "pods": n}``."""
    out: list[dict[str, Any]] = []
    low = 0
    for bound in (*HISTOGRAM_BOUNDS, None):
        count = sum(1 for t in times if t >= low and (bound is None or t < bound))
        out.append({"from": low, "to": bound, "pods": count})
        low = bound or low
    return out


def _comparison(baseline: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    def saving(key: str) -> dict[str, Any]:
        base, cand = baseline["cost"][key], candidate["cost"][key]
        return {
            "baseline": base,
            "candidate": cand,
            "saving": base - cand,
            "savingPercent": (base - cand) / base * 100 if base else None,
        }

    return {
        "baseline": CLUSTER_AUTOSCALER,
        "candidate": KARPENTER,
        "monthly": saving("monthly"),
        "monthlyAtEnd": saving("monthlyAtEnd"),
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        out = round(value, DECIMALS)
        return 0.0 if out == 0 else out
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


# --- the terminal table --------------------------------------------------------------------------


def render_table(report: dict[str, Any]) -> Table:
    """One column per strategy: costs, pending times, nodes, evictions, disruptions."""
    strategies: dict[str, Any] = report["strategies"]
    table = Table(title=f"simulation {report['scenario']['name']}")
    table.add_column("")
    for name in strategies:
        table.add_column(name, justify="right")
    for label, cell in _rows():
        table.add_row(label, *(cell(s) for s in strategies.values()))
    comparison = report.get("comparison")
    if comparison is not None:
        table.caption = _saving_caption(comparison)
    return table


def _rows() -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    def secs(v: Any) -> str:
        return "-" if v is None else f"{v:.0f}s"

    return [
        ("cost (run total)", lambda s: f"${s['cost']['total']:,.2f}"),
        ("cost per hour, average", lambda s: f"${s['cost']['averagePerHour']:,.4f}"),
        ("cost per hour, at end", lambda s: f"${s['cost']['perHourAtEnd']:,.4f}"),
        ("monthly (average × 730)", lambda s: f"${s['cost']['monthly']:,.0f}"),
        ("monthly (end rate × 730)", lambda s: f"${s['cost']['monthlyAtEnd']:,.0f}"),
        ("pods started", lambda s: str(s["pods"]["started"])),
        ("pods still pending", lambda s: str(s["pods"]["stillPending"])),
        ("pending→running p50", lambda s: secs(s["pods"]["pendingSeconds"]["p50"])),
        ("pending→running p95", lambda s: secs(s["pods"]["pendingSeconds"]["p95"])),
        ("pending→running max", lambda s: secs(s["pods"]["pendingSeconds"]["max"])),
        ("nodes (max / final)", lambda s: f"{s['nodes']['max']} / {s['nodes']['final']}"),
        ("instances launched", lambda s: _launches(s["nodes"]["launched"])),
        ("evictions", lambda s: str(s["evictions"])),
        ("disruptions", lambda s: _pairs(s["disruptions"])),
        ("spot interruptions", lambda s: str(s["spotInterruptions"])),
        ("invariant violations", lambda s: str(len(s["invariants"]["violations"]))),
    ]


def _launches(launched: dict[str, int]) -> str:
    return "\n".join(f"{n} × {k}" for k, n in launched.items()) or "-"


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "-"


def _saving_caption(comparison: dict[str, Any]) -> str:
    parts = []
    for key, label in (("monthly", "average"), ("monthlyAtEnd", "end rate")):
        c = comparison[key]
        pct = "-" if c["savingPercent"] is None else f"{c['savingPercent']:.1f} %"
        parts.append(
            f"{label}: ${c['baseline']:,.0f} → ${c['candidate']:,.0f} a month, "
            f"saving ${c['saving']:,.0f} ({pct})"
        )
    return f"{KARPENTER} vs {CLUSTER_AUTOSCALER} — " + "; ".join(parts)


# --- charts and files ----------------------------------------------------------------------------


def render_charts(result: SimulationResult) -> dict[str, bytes]:
    """``overview.png`` and ``pods.png`` (see the module docstring), as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    charts = {"overview.png": _overview(plt, result), "pods.png": _pods(plt, result)}
    plt.close("all")
    return charts


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _overview(plt: Any, result: SimulationResult) -> bytes:
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    panels: list[tuple[Any, str, Callable[[Sample], float]]] = [
        (axes[0][0], "cost per hour (USD)", lambda s: s.cost_per_hour),
        (axes[0][1], "cost so far (USD)", lambda s: s.cost),
        (axes[1][0], "nodes", lambda s: s.nodes),
        (axes[1][1], "pending pods", lambda s: s.pending),
    ]
    for ax, title, value in panels:
        for r in result.results:
            ax.plot([s.t / 60 for s in r.samples], [value(s) for s in r.samples], label=r.name)
        ax.set_title(title)
        ax.set_xlabel("minutes")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"simulation {result.scenario.name}")
    return _png(fig)


def _pods(plt: Any, result: SimulationResult) -> bytes:
    n = len(result.results)
    fig, axes = plt.subplots(1, n + 1, figsize=(5 * (n + 1), 5), constrained_layout=True)
    for ax, r in zip(axes[:n], result.results, strict=True):
        step = max(1, math.ceil(len(r.timeline) / MAX_TIMELINE_PODS))
        shown = r.timeline[::step]
        for i, (created, running) in enumerate(shown):
            ax.plot([created / 60, running / 60], [i, i], color="tab:blue", linewidth=1)
        ax.set_title(f"{r.name}: pending → running")
        ax.set_xlabel("minutes")
        ax.set_ylabel("pods (by creation)" + (f", every {step}th" if step > 1 else ""))
    cdf = axes[n]
    for r in result.results:
        times = sorted(r.pending_times)
        ys = [(i + 1) / len(times) for i in range(len(times))]
        cdf.step(times, ys, where="post", label=r.name)
    cdf.set_title("pending → running time")
    cdf.set_xlabel("seconds")
    cdf.set_ylabel("fraction of pods")
    cdf.grid(True, alpha=0.3)
    cdf.legend()
    return _png(fig)


def render_html(report: dict[str, Any], charts: dict[str, bytes]) -> str:
    """A self-contained page: the summary, the charts as base64 PNGs, and the JSON."""
    strategies: dict[str, Any] = report["strategies"]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in strategies)
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{html.escape(cell(s))}</td>" for s in strategies.values())
        + "</tr>"
        for label, cell in _rows()
    )
    caption = report.get("comparison")
    saving = f"<p><b>{html.escape(_saving_caption(caption))}</b></p>" if caption else ""
    images = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in charts.items()
    )
    name = html.escape(str(report["scenario"]["name"]))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>simulation {name}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;"
        "border-bottom:1px solid #ddd;text-align:right;white-space:pre}img{max-width:100%}"
        "</style></head><body>"
        f"<h1>simulation {name}</h1>"
        f"<p>{html.escape(str(report['scenario']['description']))}</p>"
        f"<table><tr><th></th>{head}</tr>{rows}</table>{saving}{images}"
        f"<h2>report.json</h2><pre>{html.escape(report_json(report))}</pre>"
        "</body></html>\n"
    )


def write_outputs(report: dict[str, Any], result: SimulationResult, out: Path) -> list[Path]:
    """Write ``report.json``, the PNG charts and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    charts = render_charts(result)
    files: dict[str, str | bytes] = {"report.json": report_json(report), **charts}
    files["report.html"] = render_html(report, charts)
    written = []
    for name, content in files.items():
        path = out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
