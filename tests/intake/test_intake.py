"""Intake: real tesseract on pages rendered here with Pillow, and every kind of bad input.

No test is skipped: without tesseract these tests fail (install Debian package tesseract-ocr).
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.intake.ocr import (
    PAGE_SEPARATOR,
    IntakeConfig,
    IntakeError,
    check_tesseract,
    ocr_cer,
    read_chart,
    read_pages,
)
from harness.intake.page_images import DegradedChart, RenderedPage

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BODY = [
    "Patient is a 67 year old man with type 2 diabetes mellitus without",
    "complications. History of essential hypertension, on lisinopril 10 mg",
    "daily. He denies chest pain or shortness of breath. Assessment: chronic",
    "kidney disease stage 3; hyperlipidemia. Plan: metformin 500 mg twice",
    "daily, follow up in 3 months. Labs: creatinine 1.4 mg/dL, potassium 4.2.",
]
JUNK = "~#@%^&}{|\\<>;=_`"


def render(path: Path, lines: list[str], footer: str | None = None, height: int = 700) -> Path:
    """A page like the renderer's: monospace body lines and an optional "Page i of n" footer."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 22)
    image = Image.new("L", (1275, height), 255)
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(lines):
        draw.text((60, 60 + 34 * k), line, font=font, fill=0)
    if footer:
        draw.text((60, height - 70), footer, font=font, fill=0)
    image.save(path)
    return path


def chart_of(paths: list[Path]) -> DegradedChart:
    """A degraded chart that arrives as these page images."""
    pages = [RenderedPage(index=i, image_path=p, source_start=0, source_end=0) for i, p in enumerate(paths)]
    return DegradedChart(chart_id="c1", text=None, pages=pages, n_rendered_pages=len(paths))


def script(path: Path, body: str) -> str:
    """An executable shell script standing in for tesseract."""
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def tesseract() -> str:
    """Tesseract's version; fails (never skips) when it is missing."""
    try:
        return check_tesseract(IntakeConfig())
    except IntakeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pages")


def test_clean_page_reads_almost_exactly(pages: Path) -> None:
    path = render(pages / "clean.png", BODY, footer="Page 1 of 1")
    [reading] = read_pages([path], IntakeConfig())
    assert reading.problems == []
    assert reading.quality > 0.85
    assert reading.mean_confidence is not None and reading.mean_confidence > 85
    assert reading.page_label == (1, 1)
    assert ocr_cer(reading.text, "\n".join(BODY) + "\nPage 1 of 1") < 0.01


def test_clean_chart_goes_through_without_reasons(pages: Path) -> None:
    paths = [render(pages / f"chart{i}.png", BODY, footer=f"Page {i} of 2") for i in (1, 2)]
    result = read_chart(chart_of(paths), IntakeConfig())
    assert result.reasons == []
    assert result.quality > 0.85
    assert result.text.split(PAGE_SEPARATOR) == [r.text for r in result.readings]
    texts = [r.text for r in result.readings]
    assert [result.text[o : o + len(t)] for o, t in zip(result.page_offsets, texts)] == texts


def test_blank_page_is_flagged_even_with_its_footer(pages: Path) -> None:
    good = render(pages / "b1.png", BODY, footer="Page 1 of 2")
    blank = render(pages / "b2.png", [], footer="Page 2 of 2")
    result = read_chart(chart_of([good, blank]), IntakeConfig())
    assert result.readings[1].problems == ["blank_page"]
    assert result.readings[1].quality == 0.0
    assert result.readings[1].page_label == (2, 2)
    assert any(r.startswith("unreadable_page: 1 (blank_page)") for r in result.reasons)
    assert any(r.startswith("low_intake_quality: ") for r in result.reasons)


def test_garbled_page_is_flagged(pages: Path) -> None:
    rng = random.Random(1)
    lines = [" ".join("".join(rng.choice(JUNK) for _ in range(rng.randint(2, 5))) for _ in range(12)) for _ in range(8)]
    [reading] = read_pages([render(pages / "junk.png", lines)], IntakeConfig())
    assert "garbled" in reading.problems
    assert reading.quality < 0.3


def _png_header(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` pixels whose data stops after a few bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _bad_zero_byte(path: Path) -> None:
    path.write_bytes(b"")


def _bad_truncated(path: Path) -> None:
    render(path, BODY)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _bad_text(path: Path) -> None:
    path.write_text("this is a note, not an image\n")


def _bad_pdf(path: Path) -> None:
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")


def _bad_bomb(path: Path) -> None:
    path.write_bytes(_png_header(60_000, 60_000))


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (_bad_zero_byte, "zero-byte file"),
        (_bad_truncated, "corrupt image"),
        (_bad_text, "not an image"),
        (_bad_pdf, "PDF document"),
        (_bad_bomb, "image too large"),
        (None, "cannot read file"),
    ],
    ids=["zero-byte", "truncated", "text", "pdf", "bomb", "missing"],
)
def test_bad_image_names_the_file_and_routes_the_chart(pages: Path, make, why: str) -> None:
    path = pages / f"bad-{why.replace(' ', '_')}.png"
    if make is not None:
        make(path)
    result = read_chart(chart_of([path]), IntakeConfig())
    [reading] = result.readings
    [problem] = reading.problems
    assert problem.startswith(f"unreadable_image: {path}: {why}")
    assert reading.quality == 0.0 and reading.text == ""
    assert result.reasons[0].startswith("unreadable_page: 0 (unreadable_image: ")
    assert str(path) in result.reasons[0]


def test_image_over_the_configured_pixel_limit_is_not_decoded(pages: Path) -> None:
    path = render(pages / "big.png", BODY)
    [reading] = read_pages([path], IntakeConfig(max_image_pixels=500_000))
    assert reading.problems == [f"unreadable_image: {path}: image too large: 1275x700 = 892500 pixels > max_image_pixels 500000"]


def test_missing_tesseract_is_reported_not_raised(pages: Path) -> None:
    path = render(pages / "m.png", BODY)
    config = IntakeConfig(tesseract_cmd="/nonexistent/tesseract")
    with pytest.raises(IntakeError, match="install Debian package tesseract-ocr"):
        check_tesseract(config)
    result = read_chart(chart_of([path]), config)
    not_found = "tesseract not found ('/nonexistent/tesseract'): install Debian package tesseract-ocr"
    assert result.reasons == [f"ocr_unavailable: {not_found}"]
    assert result.readings[0].problems[0].startswith(f"ocr_failed: {path}: tesseract not found")
    [reading] = read_pages([path], config)
    assert reading.problems[0].startswith(f"ocr_failed: {path}: tesseract not found")


def test_tesseract_cmd_that_is_no_program_is_reported(pages: Path, tmp_path: Path) -> None:
    path = render(pages / "n.png", BODY)
    not_a_program = tmp_path / "tesseract"
    not_a_program.write_text("not a program")
    [reading] = read_pages([path], IntakeConfig(tesseract_cmd=str(not_a_program)))
    assert reading.problems == [f"ocr_failed: {path}: cannot run tesseract {str(not_a_program)!r}: Permission denied"]
    result = read_chart(chart_of([path]), IntakeConfig(tesseract_cmd=str(not_a_program)))
    assert result.reasons[0].startswith("ocr_unavailable: cannot run tesseract")


def test_missing_language_names_the_package() -> None:
    with pytest.raises(IntakeError, match="tesseract-ocr-xyz"):
        check_tesseract(IntakeConfig(language="eng+xyz"))


def test_tesseract_that_always_fails_makes_ocr_unavailable(pages: Path, tmp_path: Path) -> None:
    path = render(pages / "f.png", BODY)
    config = IntakeConfig(tesseract_cmd=script(tmp_path / "tesseract", "echo broken >&2; exit 1"))
    result = read_chart(chart_of([path]), config)
    assert result.reasons[0].startswith("ocr_unavailable: ") and "exited with status 1: broken" in result.reasons[0]
    assert result.quality == 0.0


def test_tesseract_crash_on_a_page_names_the_file(pages: Path, tmp_path: Path) -> None:
    good, bad = render(pages / "c1.png", BODY, footer="Page 1 of 2"), render(pages / "c2.png", BODY, footer="Page 2 of 2")
    # Answers the version checks like tesseract, reads the good page, crashes on the other.
    crash = script(
        tmp_path / "tesseract",
        f'case "$1" in --version|--list-langs|{good}) exec tesseract "$@";; esac\necho "Segmentation fault" >&2; exit 139',
    )
    result = read_chart(chart_of([good, bad]), IntakeConfig(tesseract_cmd=crash))
    assert result.readings[0].problems == []
    assert result.readings[1].problems == [f"ocr_failed: {bad}: tesseract exited with status 139: Segmentation fault"]
    assert result.reasons[0] == f"unreadable_page: 1 (ocr_failed: {bad}: tesseract exited with status 139: Segmentation fault)"


def test_hanging_tesseract_is_killed_after_the_timeout(pages: Path, tmp_path: Path) -> None:
    path = render(pages / "h.png", BODY)
    # Not exec: the sleeping grandchild holds our pipes, so only killing the whole group ends the wait.
    hang = script(tmp_path / "tesseract", "sleep 60")
    [reading] = read_pages([path], IntakeConfig(tesseract_cmd=hang, timeout_s=0.5))
    assert reading.problems == [f"ocr_failed: {path}: tesseract timed out after 0.5 s"]


def test_labels_with_a_gap_mean_missing_pages(pages: Path) -> None:
    first, last = render(pages / "g1.png", BODY, footer="Page 1 of 3"), render(pages / "g3.png", BODY, footer="Page 3 of 3")
    result = read_chart(chart_of([first, last]), IntakeConfig())
    assert [r.page_label for r in result.readings] == [(1, 3), (3, 3)]
    assert "missing_pages: expected 3, got 2 (no page 2)" in result.reasons
    assert result.quality < 0.7  # the absent page counts as quality 0
    assert any(r.startswith("low_intake_quality: ") for r in result.reasons)


def test_duplicate_in_place_of_a_page_is_a_gap(pages: Path) -> None:
    paths = [render(pages / f"d{k}.png", BODY, footer=f"Page {i} of 3") for k, i in enumerate((1, 1, 3))]
    result = read_chart(chart_of(paths), IntakeConfig())
    assert result.reasons == ["page_gap: 2"]


def test_readings_keep_the_input_order(pages: Path) -> None:
    order = [3, 1, 4, 2]
    paths = [render(pages / f"o{i}.png", BODY[: 1 + i], footer=f"Page {i} of 4") for i in order]
    readings = read_pages(paths, IntakeConfig(workers=3))
    assert [r.index for r in readings] == [0, 1, 2, 3]
    assert [r.page_label for r in readings] == [(i, 4) for i in order]


def test_text_only_chart_is_not_silently_passed() -> None:
    result = read_chart(DegradedChart(chart_id="t", text="some text"), IntakeConfig())
    assert result.reasons == ["no_page_images"]


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        IntakeConfig(worker=4)


def test_cer_normalises_whitespace() -> None:
    assert ocr_cer("a  b\n\nc\f", " a b c") == 0.0
    assert ocr_cer("abcd", "abce") == 0.25
    assert ocr_cer("", "") == 0.0
    assert ocr_cer("x", "") == 1.0
