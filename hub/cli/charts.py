"""Charts for the printable reports: matplotlib on its Agg backend, deterministic output.

A ``Chart`` is data (kind, title, series of (x, y) points); ``to_svg`` and ``to_png`` draw it.
The same chart always gives the same bytes: the SVG ids are salted with a fixed string
(``svg.hashsalt``), the SVG and PNG carry no date and no software version, and text is drawn as
paths.  Labels use WenQuanYi Micro Hei (Debian's ``fonts-wqy-microhei``) when it is installed, so
Chinese site and courier names print; without it they fall back to DejaVu Sans.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
             "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc")
MAX_SERIES = 8          # more sites than this: the largest ones, the rest summed as "other"


@dataclass
class Chart:
    """``kind`` is ``line`` or ``bar``; ``series`` maps a name (a site, a fee type) to its
    ``(x, y)`` points, x a label (a day, a month, a state), y a number.  ``percent``: y is a
    ratio 0..1, drawn as a percentage."""
    kind: str
    title: str
    series: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    xlabel: str = ""
    ylabel: str = ""
    percent: bool = False
    legend: str = ""            # the legend's title ("site"); no legend when empty

    def empty(self) -> bool:
        return not any(self.series.values())


def cjk_font_path() -> str | None:
    return next((p for p in CJK_FONTS if os.path.exists(p)), None)


def _setup():
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager
    path = cjk_font_path()
    family = ["DejaVu Sans"]
    if path:
        name = font_manager.FontProperties(fname=path).get_name()
        if not any(f.fname == path for f in font_manager.fontManager.ttflist):
            font_manager.fontManager.addfont(path)
        family = [name, "DejaVu Sans"]
    return {"svg.hashsalt": "scanhub", "svg.fonttype": "path", "font.family": family,
            "font.size": 9, "axes.unicode_minus": False}


def _trim(series: dict[str, list]) -> dict[str, list]:
    if len(series) <= MAX_SERIES:
        return series
    size = {k: sum(y for _, y in v) for k, v in series.items()}
    keep = sorted(series, key=lambda k: (-size[k], k))[:MAX_SERIES - 1]
    other: dict[str, float] = {}
    for k, v in series.items():
        if k not in keep:
            for x, y in v:
                other[x] = other.get(x, 0) + y
    out = {k: series[k] for k in sorted(keep)}
    out["other"] = sorted(other.items())
    return out


def _figure(chart: Chart):
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    with matplotlib.rc_context(_setup()):
        fig = Figure(figsize=(9, 3.2), dpi=100)
        ax = fig.add_subplot()
        series = _trim(chart.series)
        xs = sorted({x for pts in series.values() for x, _ in pts})
        pos = {x: i for i, x in enumerate(xs)}
        scale = 100 if chart.percent else 1
        if chart.kind == "line":
            for name, pts in series.items():
                pts = sorted(pts)
                ax.plot([pos[x] for x, _ in pts], [y * scale for _, y in pts], marker="o", label=name)
            if chart.percent:
                ax.set_ylim(0, 105)
        else:
            xsets = [{x for x, _ in pts} for pts in series.values()]
            disjoint = sum(len(x) for x in xsets) == len(xs)    # each bar belongs to one series
            n = 1 if disjoint else max(len(series), 1)
            width = 0.8 / n
            for i, (name, pts) in enumerate(series.items()):
                slot = 0 if disjoint else i
                ax.bar([pos[x] - 0.4 + width * (slot + 0.5) for x, _ in pts], [y * scale for _, y in pts],
                       width=width, label=name)
        if chart.percent:
            ax.yaxis.set_major_formatter(PercentFormatter(100))
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=all(float(y).is_integer()
                                                               for pts in series.values() for _, y in pts)))
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xs, rotation=30 if len(xs) > 6 else 0, ha="right" if len(xs) > 6 else "center")
        ax.set_title(chart.title)
        ax.set_xlabel(chart.xlabel)
        ax.set_ylabel(chart.ylabel)
        ax.grid(axis="y", alpha=0.3)
        if chart.legend and series:
            ax.legend(title=chart.legend, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        return fig, _setup()


def to_svg(chart: Chart) -> str:
    """The chart as an SVG document (text), byte-for-byte the same for the same chart."""
    import matplotlib
    fig, rc = _figure(chart)
    buf = io.StringIO()
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]       # drop the XML prolog: the SVG goes inline into HTML


def to_png(chart: Chart, dpi: int = 150) -> bytes:
    """The chart as PNG bytes (no date, no software name in it)."""
    import matplotlib
    fig, rc = _figure(chart)
    buf = io.BytesIO()
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
