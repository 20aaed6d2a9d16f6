"""Report figures as inline SVG strings: risk-coverage, reliability, bars, histograms, lines over a sweep, values by day.

matplotlib is imported on first use (reports' ``--help`` stays fast) and drawn on an Agg canvas
without pyplot, so no GUI backend or global figure state is involved. Output is byte-for-byte
deterministic: no date in the metadata, text kept as text (``svg.fonttype: none``), and element ids
hashed with a salt taken from the figure's title, which also keeps ids unique between the figures
of one page (inline SVGs share the page's id namespace).
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe-Ito: distinguishable with colour-blindness and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
INK, MUTED, GOOD, BAD = "#1d2430", "#5b6573", "#009E73", "#D55E00"

Point = tuple[float, float | None, float | None]
"""A value and its interval bounds (None when the metric has no interval)."""


class Panel(NamedTuple):
    """One metric over a swept parameter: a line per series (combination of the other swept values)."""

    title: str
    series: Mapping[str, Sequence[Point | None]]
    """Series name -> one point per x value (None where that run does not exist)."""
    share: bool = True
    """Values are shares in [0, 1] (drawn as percentages)."""


def _style(salt: str) -> dict[str, Any]:
    from cycler import cycler

    return {
        "svg.hashsalt": salt, "svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 9,
        "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": MUTED, "axes.titlesize": 10,
        "axes.titleweight": "bold", "axes.titlelocation": "left", "axes.grid": True, "grid.color": "#e3e7ec",
        "grid.linewidth": 0.6, "axes.axisbelow": True, "xtick.color": MUTED, "ytick.color": MUTED, "text.color": INK,
        "axes.labelcolor": INK, "axes.prop_cycle": cycler(color=PALETTE), "legend.frameon": False,
    }


def _svg(title: str, size: tuple[float, float], draw: Callable[[Figure], None]) -> str:
    """Draw a figure of ``size`` inches with ``draw`` and return its SVG element (no XML prolog or metadata)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_style(title)):
        figure = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]  # drops <?xml?> and the DOCTYPE, which names a URL
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    # Artist ids (figure_1, axes_1, ...) repeat in every figure: keep only the ids something points at.
    referenced = set(re.findall(r"#([\w.-]+)", svg))
    return re.sub(r' id="([^"]+)"', lambda m: m.group(0) if m.group(1) in referenced else "", svg).strip()


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def risk_coverage(rows: Sequence[Mapping[str, float]], threshold: float | None, target: float = 0.95) -> str:
    """Precision of the codes accepted against the share accepted, one point per confidence threshold.

    Marks the ``target`` precision line, the largest coverage that keeps it, and the run's routing
    ``threshold`` (the point a coding lead is operating at today).
    """
    from harness.metrics.review import threshold_for_precision

    points = sorted((r["coverage"], r["precision"], r["threshold"]) for r in rows
                    if not (math.isnan(r["coverage"]) or math.isnan(r["precision"])))

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        ax.plot([p[0] for p in points], [p[1] for p in points], color=PALETTE[0], lw=1.8, drawstyle="steps-post",
                label="precision if codes above a threshold are accepted")
        ax.axhline(target, color=BAD, ls="--", lw=1, label=f"{target:.0%} precision")
        best = threshold_for_precision(rows, target)
        if best is not None:
            ax.plot([best.coverage], [best.precision], "o", color=BAD, ms=6,
                    label=f"{best.coverage:.0%} of codes at ≥{target:.0%} precision (confidence ≥ {best.threshold:g})")
        if threshold is not None and points:
            at = min(points, key=lambda p: (abs(p[2] - threshold), -p[2]))
            ax.plot([at[0]], [at[1]], "D", color=INK, ms=7,
                    label=f"routing threshold {threshold:g}: {at[0]:.0%} of codes, {at[1]:.0%} precise")
        low = min([p[1] for p in points] + [target]) if points else 0.0
        ax.set(xlim=(0, 1.02), ylim=(max(0.0, low - 0.05), 1.01), title="Accuracy against automation",
               xlabel="codes accepted without review (coverage)", ylabel="precision of accepted codes")
        _percent_axis(ax.xaxis)
        _percent_axis(ax.yaxis)
        ax.legend(loc="lower left", fontsize=8)

    return _svg("risk-coverage", (6.4, 3.8), draw)


def reliability(bins: Sequence[Mapping[str, float]]) -> str:
    """Accuracy per confidence bin against the diagonal of perfect calibration, with each bin's code count."""
    filled = [b for b in bins if b["count"]]

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        ax.plot([0, 1], [0, 1], ls="--", color=MUTED, lw=1, label="perfectly calibrated")
        widths = [b["upper"] - b["lower"] for b in filled]
        drawn = ax.bar([b["lower"] for b in filled], [b["accuracy"] for b in filled], width=widths, align="edge",
                       color=PALETTE[0], alpha=0.8, edgecolor="white", label="share of codes that were right")
        ax.bar_label(drawn, labels=[f"n={b['count']}" for b in filled], fontsize=7, color=MUTED, padding=2)
        ax.set(xlim=(0, 1), ylim=(0, 1.1), title="Confidence against accuracy", xlabel="confidence the system reported",
               ylabel="codes that were right")
        _percent_axis(ax.xaxis)
        _percent_axis(ax.yaxis)
        ax.legend(loc="upper left", fontsize=8)

    return _svg("reliability", (6.4, 3.8), draw)


def bars(title: str, names: Sequence[str], values: Sequence[float], *, xlabel: str, share: bool = True,
         intervals: Sequence[tuple[float, float]] | None = None, notes: Sequence[str] | None = None) -> str:
    """Horizontal bars, first name on top; optional interval whiskers and a note after each bar (``n=12``)."""

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        positions = range(len(names))
        errors = None
        if intervals:
            errors = [[max(v - lo, 0) for v, (lo, _) in zip(values, intervals)],
                      [max(hi - v, 0) for v, (_, hi) in zip(values, intervals)]]
        drawn = ax.barh(positions, values, xerr=errors, color=PALETTE[0], alpha=0.85,
                        error_kw={"ecolor": INK, "lw": 1, "capsize": 2})
        if notes:
            ax.bar_label(drawn, labels=list(notes), fontsize=7, color=MUTED, padding=4)
        ax.set_yticks(list(positions), list(names))
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set(title=title, xlabel=xlabel)
        if share:
            ax.set_xlim(0, 1.12)
            _percent_axis(ax.xaxis)
        else:
            ax.margins(x=0.15)

    return _svg(title, (6.8, 0.9 + 0.32 * max(len(names), 2)), draw)


def histogram(title: str, values: Sequence[float], edges: Sequence[float], *, xlabel: str, ylabel: str = "charts") -> str:
    """Counts of ``values`` between ``edges``, with a line at zero: bins below zero red, above green."""

    def draw(figure: Figure) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = figure.add_subplot()
        counts, _, patches = ax.hist(values, bins=list(edges), color=PALETTE[0], edgecolor="white")
        for patch, left, right in zip(patches, edges, edges[1:]):
            if right <= 0:  # a bin straddling zero stays neutral
                patch.set_facecolor(BAD)
            elif left >= 0:
                patch.set_facecolor(GOOD)
        ax.axvline(0, color=INK, lw=1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, max(counts, default=0) * 1.1 + 1))

    return _svg(title, (6.4, 3.2), draw)


def lines(title: str, x_values: Sequence[str], panels: Sequence[Panel], *, xlabel: str) -> str:
    """Small multiples: one panel per metric, x = the swept values, a line (with interval bars) per series."""
    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)

    def draw(figure: Figure) -> None:
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, panel in zip(axes, panels):
            for n, (name, points) in enumerate(panel.series.items()):
                xs = [i for i, p in enumerate(points) if p is not None]
                ys = [points[i][0] for i in xs]
                lows = [points[i][1] if points[i][1] is not None else points[i][0] for i in xs]
                highs = [points[i][2] if points[i][2] is not None else points[i][0] for i in xs]
                errors = [[y - lo for y, lo in zip(ys, lows, strict=True)], [hi - y for y, hi in zip(ys, highs, strict=True)]]
                ax.errorbar(xs, ys, yerr=errors, marker="o", ms=4, lw=1.6, capsize=3, color=PALETTE[n % len(PALETTE)],
                            label=name or None)
            ax.set_xticks(range(len(x_values)), list(x_values), rotation=20 if len(x_values) > 3 else 0)
            ax.set_xlim(-0.4, len(x_values) - 0.6)
            ax.set(title=textwrap.fill(panel.title, 34), xlabel=xlabel)  # three panels a row: long titles would collide
            if panel.share:
                _percent_axis(ax.yaxis)
            if len(panel.series) > 1:
                ax.legend(fontsize=7)
        for ax in axes[len(panels):]:
            ax.set_visible(False)

    return _svg(title, (3.4 * columns, 2.8 * rows + 0.4), draw)


def daily(title: str, series: Mapping[str, Sequence[float]], *, ylabel: str, xlabel: str = "working day") -> str:
    """Values at the end of each day (day 1 first), a line per series: a queue's backlog over the simulated days."""

    def draw(figure: Figure) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = figure.add_subplot()
        top = 0.0
        for n, (name, values) in enumerate(series.items()):
            days = list(range(1, len(values) + 1))
            ax.plot(days, list(values), marker="o", ms=3, lw=1.6, color=PALETTE[n % len(PALETTE)], label=name or None)
            top = max([top, *values])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, top * 1.1 + 1))
        if len(series) > 1:
            ax.legend(fontsize=8)

    return _svg(title, (6.4, 3.0), draw)
