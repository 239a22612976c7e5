"""The HPA check's picture: requests/s, p95, replicas and CPU utilisation over time, the
high phases shaded (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from loadtests.hpa_model import HpaSpec
from loadtests.hpa_verdict import Expectation, Row

__all__ = ["plot"]


def _high_spans(rows: Sequence[Row]) -> list[tuple[float, float]]:
    spans, start = [], None
    for prev, row in zip([None, *rows], rows, strict=False):
        if row.phase == "high" and start is None:
            start = prev.t_s if prev is not None else row.t_s
        if row.phase != "high" and start is not None:
            spans.append((start, row.t_s))
            start = None
    if start is not None:
        spans.append((start, rows[-1].t_s))
    return spans


def plot(
    rows: Sequence[Row], spec: HpaSpec, expect: Expectation, path: Path, title: str = ""
) -> Path:
    """Draw the timeline into `path` (PNG) and return it."""
    t = [r.t_s for r in rows]
    fig, axes = plt.subplots(4, 1, figsize=(10, 9), sharex=True, constrained_layout=True)
    rps_ax, p95_ax, rep_ax, cpu_ax = axes
    rps_ax.plot(t, [r.offered_rps for r in rows], "--", color="grey", label="offered")
    rps_ax.plot(t, [r.rps for r in rows], color="tab:blue", label="achieved")
    failed = [(r.t_s, r.rps) for r in rows if r.failures]
    if failed:
        rps_ax.scatter(*zip(*failed, strict=True), color="red", zorder=3, label="failures")
    rps_ax.set_ylabel("requests/s")
    rps_ax.legend(loc="upper right", fontsize="small")
    p95_ax.plot(t, [r.p95_ms for r in rows], color="tab:purple")
    p95_ax.set_ylabel("p95 ms")
    for name, values, style in (
        ("desired", [r.desired_replicas for r in rows], "-"),
        ("current", [r.current_replicas for r in rows], "--"),
        ("ready", [r.ready_replicas for r in rows], ":"),
    ):
        rep_ax.step(t, values, style, where="post", label=name)
    rep_ax.axhline(spec.max_replicas, color="red", lw=0.8, label="maxReplicas")
    rep_ax.axhline(spec.min_replicas, color="black", lw=0.8, label="minReplicas")
    rep_ax.axhline(expect.high, color="green", lw=0.8, ls="-.", label="expected (high)")
    rep_ax.set_ylabel("replicas")
    rep_ax.set_ylim(0, spec.max_replicas + 1)
    rep_ax.legend(loc="upper right", fontsize="small", ncol=3)
    known = [(r.t_s, r.cpu_utilization) for r in rows if r.cpu_utilization is not None]
    if known:
        cpu_ax.plot(*zip(*known, strict=True), color="tab:orange", label="HPA average")
    if spec.cpu_target_percent is not None:
        cpu_ax.axhline(spec.cpu_target_percent, color="black", lw=0.8, ls="--", label="target")
        tol = spec.cpu_target_percent * spec.tolerance
        cpu_ax.axhspan(
            spec.cpu_target_percent - tol,
            spec.cpu_target_percent + tol,
            color="grey",
            alpha=0.15,
            label="tolerance",
        )
    cpu_ax.set_ylabel("CPU % of request")
    cpu_ax.set_xlabel("seconds since the load started")
    cpu_ax.legend(loc="upper right", fontsize="small")
    for ax in axes:
        for start, end in _high_spans(rows):
            ax.axvspan(start, end, color="tab:red", alpha=0.08)
        ax.grid(alpha=0.3)
    fig.suptitle(title or "HPA check (high phases shaded)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
