"""Typeset a chart's text onto page images, keeping the map from every printed line back to chart offsets.

Layout is monospaced (DejaVu Sans Mono), so wrapping is a matter of columns and the layout is
exact: every printed body line is a slice ``chart.text[start:end]``. Chart pages and form feeds
start a new sheet; long lines wrap at word boundaries; sheets paginate into as many image pages as
needed. Header (chart id and encounter, never other patient text) and footer (``Page i of n``) are
page furniture and are not part of ``line_spans``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from harness.contracts import Chart
from harness.intake.degrade.config import RenderConfig
from harness.intake.page_images import RenderedPage

_PAGE_INCHES = {"letter": (8.5, 11.0), "a4": (210 / 25.4, 297 / 25.4)}
_FONT_FILE = "DejaVuSansMono.ttf"
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",  # Debian, Ubuntu (fonts-dejavu-core)
    "/usr/share/fonts/dejavu",  # Fedora
    "/usr/share/fonts/TTF",  # Arch
    "/usr/local/share/fonts",
    "/Library/Fonts",
)
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\x85\u2028\u2029]")


@dataclass(frozen=True)
class Line:
    """One printed body line: its characters and where they come from in the chart text."""

    text: str
    """Characters as typeset (control characters are drawn as spaces)."""
    span: tuple[int, int] | None
    """Chart-text ``(start, end)`` with ``chart.text[start:end] == text``; None for labels the renderer adds."""


@dataclass(frozen=True)
class PageLayout:
    """Everything printed on one page image."""

    number: int
    """0-based page number in the rendering."""
    header: str
    """Top line (chart id and encounter)."""
    footer: str
    """Bottom line (``Page i of n``)."""
    lines: tuple[Line, ...]
    """Body lines, top to bottom."""

    @property
    def line_spans(self) -> tuple[tuple[int, int], ...]:
        """Chart-text spans of the body lines that come from the chart (labels excluded)."""
        return tuple(line.span for line in self.lines if line.span is not None)

    @property
    def source_range(self) -> tuple[int, int]:
        """``(first, one past last)`` chart offset printed on the page; ``(0, 0)`` for an empty page."""
        spans = self.line_spans
        if not spans:
            return (0, 0)
        return (min(s for s, _ in spans), max(e for _, e in spans))


@dataclass(frozen=True)
class Geometry:
    """Pixel geometry of a page for one render config."""

    width: int
    height: int
    margin: int
    line_height: int
    columns: int
    """Characters per body line."""
    rows: int
    """Body lines per page."""


def find_font(config: RenderConfig) -> Path:
    """The configured font file, or DejaVu Sans Mono from the usual places (system fonts, fontconfig, matplotlib)."""
    if config.font_path:
        path = Path(config.font_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"render.font_path {str(path)!r} is not a file")
        return path
    return _default_font()


@lru_cache(maxsize=1)
def _default_font() -> Path:
    for folder in _FONT_DIRS:
        if (Path(folder) / _FONT_FILE).is_file():
            return Path(folder) / _FONT_FILE
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", "DejaVu Sans Mono"], capture_output=True, text=True, check=False)
        # fc-match always answers with some font; only the real one keeps the layout metrics.
        if found.returncode == 0 and Path(found.stdout).name == _FONT_FILE:
            return Path(found.stdout)
    spec = find_spec("matplotlib")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / _FONT_FILE
        if bundled.is_file():
            return bundled
    raise FileNotFoundError(
        "font DejaVu Sans Mono not found: install it (Debian/Ubuntu: apt-get install fonts-dejavu-core) or set render.font_path"
    )


@lru_cache(maxsize=16)
def load_font(size_px: int, path: Path | None = None) -> ImageFont.FreeTypeFont:
    """A TrueType font at ``size_px`` pixels (DejaVu Sans Mono unless ``path`` is given)."""
    # BASIC layout: the same glyph positions whether or not libraqm is installed.
    return ImageFont.truetype(str(path or _default_font()), size_px, layout_engine=ImageFont.Layout.BASIC)


def font_for(config: RenderConfig) -> ImageFont.FreeTypeFont:
    """The body font scaled to the render resolution."""
    return load_font(max(1, round(config.font_size_pt * config.dpi / 72)), find_font(config))


def geometry(config: RenderConfig) -> Geometry:
    """Page size, margins and the character grid of the body."""
    width_in, height_in = _PAGE_INCHES[config.page_size]
    width, height = round(width_in * config.dpi), round(height_in * config.dpi)
    margin = round(config.margin_inches * config.dpi)
    font = font_for(config)
    line_height = round(font.size * config.line_spacing)
    columns = int((width - 2 * margin) // font.getlength("M"))
    rows = (height - 2 * margin) // line_height
    if columns < 10 or rows < 5:
        raise ValueError(f"render config leaves a body of {columns} columns x {rows} rows; reduce margins or font size")
    return Geometry(width, height, margin, line_height, columns, rows)


def wrap_chart(chart: Chart, columns: int) -> list[list[Line]]:
    """Split the chart text into sheets (chart pages, form feeds) of wrapped lines."""
    text = chart.text
    breaks = {page.offset for page in chart.pages} | {m.end() for m in re.finditer("\f", text)}
    bounds = sorted(b for b in breaks if 0 < b < len(text))
    sheets = []
    for start, end in zip([0, *bounds], [*bounds, len(text)]):
        if text[start:end].endswith("\f"):
            end -= 1
        if start == end and sheets:
            continue
        sheets.append(_wrap_segment(text, start, end, columns))
    return sheets or [[]]


def _wrap_segment(text: str, start: int, end: int, columns: int) -> list[Line]:
    """Wrapped lines of ``text[start:end]``, one logical line per line break (CRLF, LF, CR ...)."""
    lines: list[Line] = []
    pos = start
    for match in [*_LINE_BREAK.finditer(text, start, end), None]:
        stop = match.start() if match else end
        if match or pos < end or not lines:
            lines.extend(_wrap_line(text, pos, stop, columns))
        if match:
            pos = match.end()
    return lines


def _wrap_line(text: str, start: int, end: int, columns: int) -> list[Line]:
    """Wrap one logical line at word boundaries; a word longer than the line is cut."""
    if start == end:
        return [_line(text, start, end)]
    lines = []
    pos = start
    while pos < end:
        if end - pos <= columns:
            lines.append(_line(text, pos, end))
            break
        cut = _break_at(text, pos, pos + columns)
        if cut is None:
            lines.append(_line(text, pos, pos + columns))
            pos += columns
            continue
        lines.append(_line(text, pos, pos + len(text[pos:cut].rstrip())))
        pos = cut
        while pos < end and text[pos].isspace():
            pos += 1  # the break's whitespace is not printed on either line
    return lines


def _break_at(text: str, start: int, limit: int) -> int | None:
    """Last whitespace in ``(start, limit]`` after the line's first printed character, or None."""
    first = start
    while first < limit and text[first].isspace():
        first += 1  # indentation is not a break opportunity
    for i in range(limit, first, -1):
        if text[i].isspace():
            return i
    return None


def _line(text: str, start: int, end: int) -> Line:
    return Line(text[start:end], (start, end))


def paginate(chart: Chart, sheets: list[list[Line]], rows: int) -> list[PageLayout]:
    """Cut sheets into pages of ``rows`` body lines, each sheet starting a new page."""
    bodies = [sheet[i : i + rows] for sheet in sheets for i in range(0, max(len(sheet), 1), rows)]
    encounter = chart.meta.get("encounter") or "n/a"
    header = f"Chart {chart.id} | Encounter {encounter}"
    n = len(bodies)
    return [PageLayout(i, header, f"Page {i + 1} of {n}", tuple(body)) for i, body in enumerate(bodies)]


def layout_chart(chart: Chart, config: RenderConfig) -> list[PageLayout]:
    """Wrap and paginate the chart (no drawing)."""
    grid = geometry(config)
    return paginate(chart, wrap_chart(chart, grid.columns), grid.rows)


def draw_page(page: PageLayout, config: RenderConfig, path: Path) -> Path:
    """Draw one page as a greyscale PNG at ``path`` (deterministic bytes for the same inputs)."""
    grid = geometry(config)
    font = font_for(config)
    image = Image.new("L", (grid.width, grid.height), 255)
    draw = ImageDraw.Draw(image)
    header = page.header if len(page.header) <= grid.columns else page.header[: grid.columns - 3] + "..."
    draw.text((grid.margin, max(0, grid.margin - 2 * grid.line_height)), header, font=font, fill=0)
    for row, line in enumerate(page.lines):
        draw.text((grid.margin, grid.margin + row * grid.line_height), _printable(line.text), font=font, fill=0)
    footer_x = grid.width - grid.margin - font.getlength(page.footer)
    footer_y = min(grid.height - grid.line_height, grid.height - grid.margin + grid.line_height)
    draw.text((footer_x, footer_y), page.footer, font=font, fill=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", dpi=(config.dpi, config.dpi))
    return path


def _printable(text: str) -> str:
    # Tabs and other control characters occupy one column and print as blanks.
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def rendered_page(page: PageLayout, path: Path, index: int) -> RenderedPage:
    """The intake view of a drawn page delivered at position ``index``."""
    start, end = page.source_range
    return RenderedPage(
        index=index, image_path=path, source_start=start, source_end=end, line_spans=page.line_spans, source_page=page.number
    )


def render_chart(chart: Chart, out_dir: Path, config: RenderConfig) -> list[RenderedPage]:
    """Typeset ``chart`` into ``out_dir/page-XXX.png`` (one PNG per page) and map each page back to chart offsets."""
    pages = layout_chart(chart, config)
    return [rendered_page(page, draw_page(page, config, out_dir / f"page-{page.number:03d}.png"), page.number) for page in pages]
