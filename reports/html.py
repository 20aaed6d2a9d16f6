"""A tiny kit for self-contained report pages: one HTML file, inline CSS, no scripts, no network.

Text is escaped by default: every helper escapes what it is given unless it is ``Html`` (markup
another helper built), so chart text or a code description can never inject markup. Pages print
cleanly (no figure, tile or table row splits across pages; the contents list is left out).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from reports import labels


class Html(str):
    """Markup that is already safe: helpers insert it as is."""


class Section(Html):
    """A section's markup that remembers its title (for the page's contents list)."""

    title: str


CSS = """
:root { --ink:#1d2430; --muted:#5b6573; --line:#d9dee5; --soft:#f4f6f9; --accent:#0b63a8; --good:#1a7f37; --bad:#b42318; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 32px 64px; }
header h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
header .subtitle { color: var(--muted); margin: 0 0 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; font-size: 14px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
nav { display: flex; flex-wrap: wrap; gap: 4px 18px; border-top: 1px solid var(--line); border-bottom: 1px solid var(--line);
      padding: 8px 0; margin: 16px 0 8px; font-size: 14px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
section { margin-top: 36px; }
h2 { font-size: 20px; margin: 0 0 4px; padding-top: 8px; border-top: 2px solid var(--ink); break-after: avoid; }
h3 { font-size: 16px; margin: 20px 0 6px; break-after: avoid; }
p.how { color: var(--muted); margin: 0 0 14px; font-size: 14px; max-width: 80ch; }
p.how::before { content: "How to read this: "; font-weight: 600; color: var(--ink); }
p.note { background: var(--soft); border-left: 3px solid var(--accent); padding: 8px 12px; font-size: 14px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 14px; }
tr { break-inside: avoid; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; border-bottom: 1px solid var(--ink); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 0.92em; }
.metric-id { display: block; color: var(--muted); font-size: 12px; }
.ci { position: relative; display: inline-block; width: 110px; height: 10px; margin-left: 8px; vertical-align: middle;
      border-bottom: 1px solid var(--line); }
.ci .range { position: absolute; top: 2px; height: 6px; border: 1px solid var(--accent); background: #cfe3f5; }
.ci .dot { position: absolute; top: 0; width: 2px; height: 10px; margin-left: -1px; background: var(--ink); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; margin: 12px 0 20px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; break-inside: avoid; }
.card .value { font-size: 28px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .name { font-size: 13px; color: var(--muted); }
.card .interval { font-size: 13px; color: var(--muted); font-variant-numeric: tabular-nums; }
figure { margin: 8px 0 20px; break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; border: 1px solid; }
.tag.good { color: var(--good); border-color: var(--good); } .tag.bad { color: var(--bad); border-color: var(--bad); }
.tag.neutral { color: var(--muted); border-color: var(--line); }
.excerpt { font-size: 13px; line-height: 1.45; background: var(--soft); border-radius: 4px; padding: 6px 8px; margin: 4px 0; }
mark { background: #ffe08a; color: inherit; padding: 0 1px; }
.gallery-item { border: 1px solid var(--line); border-radius: 6px; padding: 4px 14px 8px; margin: 12px 0; }
@media print { nav { display: none; } main { padding: 0; max-width: none; } section { margin-top: 24px; } a { color: inherit; } }
"""


def esc(value: object) -> Html:
    """``value`` as HTML: ``Html`` passes through, anything else is converted to text and escaped."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], separator: str = "") -> Html:
    return Html(esc(separator).join(esc(part) for part in parts))


def tag(name: str, *body: object, **attrs: object) -> Html:
    """``<name attrs>body</name>``; ``class_`` stands for ``class``, a None attribute is left out."""
    rendered = "".join(f' {key.rstrip("_").replace("_", "-")}="{esc(value)}"'
                       for key, value in attrs.items() if value is not None)
    return Html(f"<{name}{rendered}>{join(body)}</{name}>")


def slug(title: str) -> str:
    """An anchor id for a section title."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def section(title: str, how_to_read: str, *body: object) -> Section:
    """A titled section that opens with one plain-language line on how to read it."""
    built = Section(tag("section", tag("h2", title), tag("p", how_to_read, class_="how"), *body, id=slug(title)))
    built.title = title
    return built


def note(*body: object) -> Html:
    return tag("p", *body, class_="note")


def facts(items: Mapping[str, object]) -> Html:
    """A compact two-column list (run identity, settings)."""
    return tag("dl", *(Html(tag("dt", key) + tag("dd", value)) for key, value in items.items()), class_="facts")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> Html:
    """A plain table; the columns at ``numeric`` are right-aligned figures."""

    def cell(kind: str, index: int, value: object) -> Html:
        return tag(kind, value, class_="num" if index in numeric else None)

    head = tag("tr", *(cell("th", i, h) for i, h in enumerate(headers)))
    body = (tag("tr", *(cell("td", i, v) for i, v in enumerate(row))) for row in rows)
    return tag("table", tag("thead", head), tag("tbody", *body))


def _bounds(name: str, metrics: Mapping[str, float]) -> tuple[float, float] | None:
    low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    return None if low is None or high is None or math.isnan(low) or math.isnan(high) else (low, high)


def interval(name: str, metrics: Mapping[str, float]) -> Html:
    """``low – high`` of metric ``name`` (its ``_ci_low`` / ``_ci_high``), empty when it has none."""
    bounds = _bounds(name, metrics)
    return esc(" – ".join(labels.format_value(name, bound) for bound in bounds)) if bounds else Html("")


def interval_bar(name: str, metrics: Mapping[str, float]) -> Html:
    """A small drawn interval on a 0–100% scale for share metrics: the range as a box, the value as a tick."""
    bounds, value = _bounds(name, metrics), metrics.get(name)
    if labels.info(name).unit != "share" or bounds is None or value is None or math.isnan(value):
        return Html("")
    low, high = (min(max(bound, 0.0), 1.0) * 100 for bound in bounds)
    box = f"left:{low:.1f}%;width:{max(high - low, 0.5):.1f}%"
    return Html(f'<span class="ci" aria-hidden="true"><span class="range" style="{box}"></span>'
                f'<span class="dot" style="left:{min(max(value, 0.0), 1.0) * 100:.1f}%"></span></span>')


def metric_name(name: str) -> Html:
    """The plain label with the MLflow metric name in small print underneath."""
    return Html(esc(labels.label(name)) + tag("span", name, class_="metric-id mono"))


def metric_table(metrics: Mapping[str, float], names: Iterable[str], confidence: float = 0.95) -> Html:
    """One row per metric present in ``metrics``: label, value, bootstrap interval (drawn for shares)."""
    rows = [(metric_name(n), labels.format_value(n, metrics[n]), Html(interval(n, metrics) + interval_bar(n, metrics)))
            for n in names if n in metrics]
    return table(["measure", "value", f"{confidence:.0%} interval"], rows, numeric=(1, 2))


def tiles(items: Iterable[tuple[object, object, object]]) -> Html:
    """Big-number tiles, one per ``(value, what it is, small print)``: the figures a reader should see first."""
    cards = (tag("div", tag("div", value, class_="value"), tag("div", name, class_="name"), tag("div", detail, class_="interval"),
                 class_="card") for value, name, detail in items)
    return tag("div", *cards, class_="cards")


def cards(metrics: Mapping[str, float], names: Iterable[str]) -> Html:
    """Tiles for metrics: value, plain label, and bootstrap interval."""
    return tiles((labels.format_value(n, metrics[n]), labels.label(n), interval(n, metrics)) for n in names if n in metrics)


def figure(svg: str, caption: str) -> Html:
    """An inline SVG figure (from ``reports.plots``, which builds it, so it is trusted markup)."""
    return tag("figure", Html(svg), tag("figcaption", caption))


def badge(text: str, kind: str = "neutral") -> Html:
    """A small coloured label: ``good``, ``bad`` or ``neutral``."""
    return tag("span", text, class_=f"tag {kind}")


def page(title: str, subtitle: str, identity: Mapping[str, object], sections: Sequence[Section]) -> str:
    """The whole document: header with the run's identity, a contents list, then the sections."""
    contents = tag("nav", *(tag("a", s.title, href=f"#{slug(s.title)}") for s in sections))
    header = tag("header", tag("h1", title), tag("p", subtitle, class_="subtitle"), facts(identity))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{header}{contents}{join(sections)}</main></body></html>\n")
