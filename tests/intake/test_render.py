"""Rendering charts to page images: layout round trip, pagination, furniture, fonts, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from harness.contracts import Chart, Page
from harness.intake.degrade.config import RenderConfig
from harness.intake.render import font_for, geometry, layout_chart, render_chart, wrap_chart

CONFIG = RenderConfig()


def _chart(text: str, **meta: str) -> Chart:
    return Chart(id="render-test", text=text, meta=dict(meta))


def _messy_text() -> str:
    """Long paragraphs, a word longer than a line, tabs, CRLF, blank lines, accents and symbols."""
    paragraph = " ".join(f"finding{i} with chronic kidney disease stage {i % 5}" for i in range(12))
    return (
        "HISTORY OF PRESENT ILLNESS:\r\n"
        f"{paragraph}\n"
        f"\tIndented\tline with tabs\n\n"
        f"{'x' * 200} tail of an unbreakable token\n"
        "Paciente con diabetes mellitus tipo 2, niño, señal ≥ 3 µg → €5 Ωmega\n"
    )


def test_line_spans_slice_to_what_is_printed() -> None:
    chart = _chart(_messy_text())
    columns = geometry(CONFIG).columns
    pages = layout_chart(chart, CONFIG)
    printed = [line for page in pages for line in page.lines]
    assert all(line.span is not None for line in printed)
    for line in printed:
        start, end = line.span
        assert chart.text[start:end] == line.text
        assert len(line.text) <= columns
    spans = [line.span for line in printed]
    assert spans == sorted(spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    # Nothing printable is lost: every non-space character lies on some printed line.
    covered = {i for start, end in spans for i in range(start, end)}
    assert all(i in covered for i, c in enumerate(chart.text) if not c.isspace())


def test_long_lines_wrap_at_word_boundaries() -> None:
    text = " ".join(f"word{i:03d}" for i in range(60))
    lines = wrap_chart(_chart(text), 40)[0]
    assert len(lines) > 1
    for line in lines:
        assert not line.text.startswith(" ") and not line.text.endswith(" ")
        assert all(token.startswith("word") and len(token) == 7 for token in line.text.split(" "))
    # A token longer than the line is cut, not lost.
    long = wrap_chart(_chart("y" * 95), 40)[0]
    assert [line.text for line in long] == ["y" * 40, "y" * 40, "y" * 15]


def test_pagination_sheets_and_footer() -> None:
    rows = geometry(CONFIG).rows
    body = "\n".join(f"line {i}" for i in range(rows + 10))
    text = body + "\fsecond note\nends here"
    chart = _chart(text, encounter="inpatient")
    pages = layout_chart(chart, CONFIG)
    # rows + 10 lines fill one page and spill onto a second; the form feed starts a third.
    assert len(pages) == 3
    assert [len(p.lines) for p in pages] == [rows, 10, 2]
    assert [p.footer for p in pages] == ["Page 1 of 3", "Page 2 of 3", "Page 3 of 3"]
    assert all(p.header == "Chart render-test | Encounter inpatient" for p in pages)
    assert pages[2].lines[0].text == "second note"
    assert "\f" not in "".join(line.text for p in pages for line in p.lines)


def test_chart_pages_start_new_sheets() -> None:
    text = "first page text\nsecond page text"
    chart = Chart(id="p", text=text, pages=[Page(index=0, offset=0, text=text[:16]), Page(index=1, offset=16, text=text[16:])])
    pages = layout_chart(chart, CONFIG)
    assert [[line.text for line in p.lines] for p in pages] == [["first page text"], ["second page text"]]
    assert pages[0].header == "Chart p | Encounter n/a"


def test_render_chart_writes_deterministic_greyscale_pngs(tmp_path: Path) -> None:
    chart = _chart(_messy_text(), encounter="emergency")
    first = render_chart(chart, tmp_path / "a", CONFIG)
    second = render_chart(chart, tmp_path / "b", CONFIG)
    assert len(first) == len(layout_chart(chart, CONFIG)) == 1
    page = first[0]
    assert (page.index, page.source_page) == (0, 0)
    assert page.line_spans == layout_chart(chart, CONFIG)[0].line_spans
    assert (page.source_start, page.source_end) == (0, len(chart.text.rstrip("\n")))
    assert page.image_path.read_bytes() == second[0].image_path.read_bytes()
    with Image.open(page.image_path) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "L", (1700, 2200))
        assert round(image.info["dpi"][0]) == 200
        # Ink lies in the body, and the margins stay blank apart from header and footer.
        assert image.getextrema() == (0, 255)
        assert image.crop((0, 300, 140, 2000)).getextrema() == (255, 255)


def test_non_latin1_characters_have_glyphs() -> None:
    font = font_for(CONFIG)
    missing = bytes(font.getmask("\ue000"))  # private-use code point: the font's "missing glyph" box
    for char in "ñéÁü≥µ→€Ω":
        assert bytes(font.getmask(char)) != missing, char


def test_missing_font_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match="font_path"):
        geometry(RenderConfig(font_path="/nonexistent/font.ttf"))
