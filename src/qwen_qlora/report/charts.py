"""Charts for the HTML report, drawn with matplotlib and returned as inline SVG strings.

Text in the charts (titles, axis labels, category names) is drawn as glyph outlines
(`svg.fonttype: path`), so the SVG needs no font and carries no data as markup: a theme
or title containing `<script>` cannot become a tag. The output is deterministic (fixed
hash salt, no date), so an unchanged input gives an unchanged report.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "svg.fonttype": "path",
    "svg.hashsalt": "qwen-qlora-report",
    "font.family": "DejaVu Sans",  # ships with matplotlib; has Cyrillic glyphs
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
COLORS = {"corpus": "#555555", "base": "#8c96a8", "base_4bit": "#b5bccb", "base_fewshot": "#6d7f9e",
          "adapted_4bit": "#e6a57a", "adapted": "#c4511f"}
FALLBACK = ["#2a7f62", "#7b4fa0", "#b08a00", "#2f6db5"]


def color(name: str, i: int = 0) -> str:
    return COLORS.get(name, FALLBACK[i % len(FALLBACK)])


def to_svg(fig: plt.Figure) -> str:
    """The figure as an <svg> element for inline HTML (no prolog, metadata or namespaces), then closed."""
    buf = io.StringIO()
    with plt.rc_context(STYLE):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    # Drop metadata and the comments that repeat each label's text (they are not needed).
    svg = re.sub(r"\s*<metadata>.*?</metadata>|\s*<!--.*?-->", "", svg[svg.index("<svg"):], flags=re.S)
    # Inline SVG in HTML needs no namespace declarations (the HTML parser knows xlink:href).
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)


def _figure(width: float = 6.4, height: float = 3.2) -> tuple[plt.Figure, plt.Axes]:
    with plt.rc_context(STYLE):
        return plt.subplots(figsize=(width, height))


def loss_curves(series: dict[str, tuple[Sequence[float], Sequence[float]]]) -> str:
    """Loss by optimizer step, one line per series ({name: (steps, losses)})."""
    with plt.rc_context(STYLE):
        fig, ax = _figure()
        for i, (name, (steps, losses)) in enumerate(series.items()):
            ax.plot(steps, losses, marker="o", markersize=3, label=name, color=FALLBACK[i % len(FALLBACK)])
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (nats/token)")
        ax.legend(frameon=False)
        return to_svg(fig)


def perplexity_scatter(x: Sequence[float], y: Sequence[float], x_label: str, y_label: str) -> str:
    """Per-poem perplexity, one model against another, log-log, with the y = x line:
    a point below the line is a poem the second model predicts better."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(4.8, 4.4)
        better = [b < a for a, b in zip(x, y)]
        ax.scatter([a for a, k in zip(x, better) if k], [b for b, k in zip(y, better) if k], s=14,
                   color=COLORS["adapted"], label=f"better with {y_label} ({sum(better)})")
        ax.scatter([a for a, k in zip(x, better) if not k], [b for b, k in zip(y, better) if not k], s=14,
                   color=COLORS["base"], label=f"not better ({len(better) - sum(better)})")
        lo, hi = min(min(x), min(y)) * 0.9, max(max(x), max(y)) * 1.1
        ax.plot([lo, hi], [lo, hi], color="#333333", linewidth=0.8, linestyle="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers, not 6x10^1
            axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"{x_label}: test perplexity")
        ax.set_ylabel(f"{y_label}: test perplexity")
        ax.legend(frameon=False, loc="upper left")
        return to_svg(fig)


def hbar(values: dict[str, float], xlabel: str, height_per_bar: float = 0.22) -> str:
    """Horizontal bars, one per key, in the given order (top to bottom)."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(6.4, max(1.4, 0.5 + height_per_bar * len(values)))
        names = list(values)[::-1]
        ax.barh(names, [values[n] for n in names], color=FALLBACK[0])
        for i, n in enumerate(names):
            ax.annotate(_num(values[n]), (values[n], i), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
        return to_svg(fig)


def grouped_bars(categories: list[str], groups: dict[str, list[float]],
                 errors: dict[str, list[tuple[float, float] | None]] | None = None,
                 ylabel: str = "share") -> str:
    """Bars per category, one bar per group ({group: values aligned with categories}),
    with interval whiskers where `errors` gives (low, high)."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(max(4.0, 0.9 * len(categories) + 2), 3.0)
        width = 0.8 / max(1, len(groups))
        for i, (name, vals) in enumerate(groups.items()):
            xs = [c + (i - (len(groups) - 1) / 2) * width for c in range(len(categories))]
            ax.bar(xs, vals, width, label=name, color=color(name, i))
            errs = (errors or {}).get(name)
            if errs:
                pts = [(xx, v, e) for xx, v, e in zip(xs, vals, errs) if e is not None]
                if pts:
                    ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                                yerr=[[p[1] - p[2][0] for p in pts], [p[2][1] - p[1] for p in pts]],
                                fmt="none", ecolor="#222222", elinewidth=0.8, capsize=2)
        ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 5 else 0,
                      ha="right" if len(categories) > 5 else "center")
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=8)
        ax.grid(axis="x", visible=False)
        return to_svg(fig)


def strips(values: dict[str, list[float]], baselines: dict[str, float], xlabel: str, counted: bool = True) -> str:
    """One row of points per group with its mean marked, and vertical baseline lines
    ({label: x}) for reference. `counted`: the points are single poems (labels say n);
    else each group is one mean."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(6.4, 0.9 + 0.45 * max(1, len(values)))
        names = list(values)[::-1]
        for i, name in enumerate(names):
            vals = values[name]
            jitter = [((k * 7919) % 13 - 6) / 40 for k in range(len(vals))]  # deterministic spread
            ax.scatter(vals, [i + j for j in jitter], s=12, alpha=0.7, color=color(name, i))
            if vals:
                ax.plot([sum(vals) / len(vals)] * 2, [i - 0.3, i + 0.3], color="#111111", linewidth=2)
        for k, (label, x) in enumerate(baselines.items()):
            ax.axvline(x, color=FALLBACK[(k + 1) % len(FALLBACK)], linestyle="--", linewidth=1, label=label)
        ax.set_yticks(range(len(names)), [f"{n} (n={len(values[n])})" if counted else f"{n} (mean)" for n in names])
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        if baselines:
            ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2)
        return to_svg(fig)


def _num(v: float) -> str:
    return f"{v:g}" if float(v).is_integer() else f"{v:.3g}"


def svg_is_inert(svg: str) -> bool:
    """No script, event handler, external reference or foreign object in the SVG."""
    return not re.search(r"<script|<foreignObject|\son\w+\s*=|href\s*=\s*\"(?!#)", svg, re.I)
