"""Intake: OCR page images with tesseract, score each page, decide per chart.

Every page yields a ``PageReading`` and every chart an ``IntakeResult``; bad input
(an empty, truncated or oversized file, a PDF or text file posing as an image, a
missing or crashing tesseract) never raises: it becomes a problem on the page that
names the file, and a review reason on the chart.

Tesseract runs through its command line (no Python binding): one process per page,
``OMP_THREAD_LIMIT`` set per call (one OpenMP thread is several times faster than
tesseract's default on a busy CPU), up to ``workers`` processes at a time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.contracts import ReviewReason
from harness.errors import HarnessError
from harness.intake.page_images import DegradedChart

PAGE_SEPARATOR = "\f"
"""Joins page texts in ``IntakeResult.text`` (a form feed, as tesseract itself writes between pages)."""

_PAGE_LABEL = re.compile(r"\bpage\s+(\d{1,4})\s+of\s+(\d{1,4})\b", re.IGNORECASE)
_ALNUM = r"[^\W_]"  # a letter or digit in any script (Spanish charts included)
# A plausible token: optional opening marks, alphanumeric runs joined by the punctuation clinical
# text uses inside words (1.4, mg/dL, T2-DM, O'Neil), optional closing marks ("7.8%,", "(BID).").
_PLAUSIBLE = re.compile(
    rf"""^[(\[{{"'“‘¿¡#$<>±~]*{_ALNUM}+(?:[-./',:%+&'’°×]{_ALNUM}+)*[)\]}}"'”’.,;:%!?°*]*$"""
)
# Punctuation that stands alone legitimately in charts (list bullets, dashes, "BP: 120 / 80").
_STANDALONE = frozenset("-–—/&+=:*#•·%()")
_PDF_MAGIC = b"%PDF"


class IntakeError(HarnessError, RuntimeError):
    """Intake cannot run at all (tesseract missing, broken or lacking the language)."""


class IntakeConfig(BaseModel):
    """How page images are read and when a page or chart counts as unreadable."""

    model_config = ConfigDict(extra="forbid")

    name: str = "tesseract"
    """Registry name of the intake engine."""
    language: str = "eng"
    """Tesseract language(s), e.g. ``eng`` or ``spa+eng``; each needs its Debian package ``tesseract-ocr-<lang>``."""
    psm: int = Field(default=6, ge=0, le=13)
    """Tesseract page segmentation mode; 6 (one uniform block of text) suits rendered chart pages."""
    workers: int = Field(default=2, ge=1)
    """Pages read at the same time (one tesseract process each)."""
    threads_per_process: int = Field(default=1, ge=1)
    """OpenMP threads per tesseract process (``OMP_THREAD_LIMIT``); 1 is fastest when pages run in parallel."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Seconds one page may take in tesseract before it is killed and the page marked failed."""
    min_words: int = Field(default=5, ge=0)
    """A page with fewer words than this (not counting its "Page i of n" label) is blank."""
    min_confidence: float = Field(default=70.0, ge=0, le=100)
    """Mean word confidence (0-100) below which a page is flagged ``low_confidence``."""
    max_garbled_share: float = Field(default=0.2, ge=0, le=1)
    """Share of garbled tokens above which a page is flagged ``garbled``."""
    min_page_quality: float = Field(default=0.6, ge=0, le=1)
    """Page quality below which the chart gets an ``unreadable_page`` review reason."""
    min_chart_quality: float = Field(default=0.7, ge=0, le=1)
    """Chart quality below which the chart gets a ``low_intake_quality`` review reason."""
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    """Largest image (width x height, read from the header before decoding) accepted; guards against decompression bombs."""
    tesseract_cmd: str = "tesseract"
    """Tesseract executable (name on PATH or a path)."""


@dataclass
class PageReading:
    """What intake read from one page image."""

    index: int
    """Position of the page in the delivered document, 0-based."""
    text: str
    """OCR text: words joined by spaces, lines by newlines, blocks by a blank line."""
    mean_confidence: float | None
    """Mean tesseract word confidence (0-100); None when no word was read."""
    word_count: int
    """Words tesseract returned, the page label included."""
    quality: float
    """Page quality in [0, 1]: confidence times the share of plausible tokens; 0 for blank or unread pages."""
    problems: list[str] = field(default_factory=list)
    """Machine-readable problems: ``blank_page``, ``garbled``, ``low_confidence``,
    ``unreadable_image: <file>: <why>``, ``ocr_failed: <file>: <why>``."""
    page_label: tuple[int, int] | None = None
    """``(i, n)`` from the "Page i of n" label found in the text, if any."""
    seconds: float = 0.0
    """Wall-clock seconds spent on this page (validation and OCR)."""


@dataclass
class IntakeResult:
    """Intake's outcome for one chart."""

    text: str
    """Page texts joined with ``PAGE_SEPARATOR``."""
    page_offsets: list[int]
    """Offset of each page's text in ``text``, in reading order."""
    readings: list[PageReading]
    """One reading per delivered page, in delivered order."""
    quality: float
    """Chart quality in [0, 1]: page qualities summed over the larger of pages received and pages expected."""
    reasons: list[ReviewReason] = field(default_factory=list)
    """Why the chart must be reviewed; empty when intake found nothing wrong."""
    seconds: float = 0.0
    """Wall-clock seconds intake spent on the chart."""


def check_tesseract(config: IntakeConfig) -> str:
    """Return tesseract's version line, or raise ``IntakeError`` saying what to install or fix."""
    version = _run_tool([config.tesseract_cmd, "--version"], timeout_s=30).splitlines()
    langs = _run_tool([config.tesseract_cmd, "--list-langs"], timeout_s=30).split()
    missing = [lang for lang in config.language.split("+") if lang not in langs]
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        raise IntakeError(f"tesseract language(s) {', '.join(missing)} not installed: install Debian package(s) {packages}")
    return version[0] if version else "tesseract (unknown version)"


@lru_cache(maxsize=16)
def _tesseract_ready(tesseract_cmd: str, language: str) -> str:
    """``check_tesseract`` once per executable and language: its two calls would cost a noticeable share of a short chart.

    Only successes are cached; a tesseract that breaks later still shows up as ``ocr_failed`` on each page.
    """
    return check_tesseract(IntakeConfig(tesseract_cmd=tesseract_cmd, language=language))


def _run_tool(cmd: list[str], timeout_s: float) -> str:
    """Run a tesseract info command; its output (tesseract 4 wrote some of it to stderr)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise IntakeError(f"tesseract not found ({cmd[0]!r}): install Debian package tesseract-ocr") from None
    except OSError as error:  # not executable, not a program, ...
        raise IntakeError(f"cannot run tesseract {cmd[0]!r}: {error.strerror or error}") from None
    except subprocess.TimeoutExpired:
        raise IntakeError(f"{' '.join(cmd)} did not answer within {timeout_s:g} s") from None
    if done.returncode != 0:
        raise IntakeError(f"{' '.join(cmd)} exited with status {done.returncode}: {_tail(done.stderr)}")
    return done.stdout or done.stderr


def read_pages(paths: Sequence[Path], config: IntakeConfig) -> list[PageReading]:
    """Read page images in parallel (``config.workers`` tesseract processes at a time); readings keep the input order.

    Threads, not a process pool: each thread only validates the image and waits on its
    tesseract process, which is where the work happens; a process pool measured no faster
    (6 pages, 2 workers: 3.1 pages/s both ways) and costs worker start-up and pickling.
    """
    if config.workers == 1 or len(paths) <= 1:
        return [_read_page(i, Path(p), config) for i, p in enumerate(paths)]
    with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="intake") as pool:
        return list(pool.map(_read_page, range(len(paths)), [Path(p) for p in paths], [config] * len(paths)))


def read_chart(degraded: DegradedChart, config: IntakeConfig) -> IntakeResult:
    """OCR a chart's page images and decide whether its intake is good enough to code without review."""
    started = time.perf_counter()
    if not degraded.pages:
        return IntakeResult(text="", page_offsets=[], readings=[], quality=0.0, reasons=[ReviewReason("no_page_images")])
    paths = [page.image_path for page in degraded.pages]
    try:
        _tesseract_ready(config.tesseract_cmd, config.language)
    except IntakeError as error:
        # Without OCR no page can be read: say so once for the chart, and on every page with its file.
        readings = [
            PageReading(index=i, text="", mean_confidence=None, word_count=0, quality=0.0, problems=[f"ocr_failed: {p}: {error}"])
            for i, p in enumerate(paths)
        ]
        reasons = [ReviewReason("ocr_unavailable", str(error))]
    else:
        readings = read_pages(paths, config)
        reasons = []
    offsets, position = [], 0
    for reading in readings:
        offsets.append(position)
        position += len(reading.text) + len(PAGE_SEPARATOR)
    quality, chart_reasons = _judge_chart(readings, config)
    return IntakeResult(
        text=PAGE_SEPARATOR.join(r.text for r in readings),
        page_offsets=offsets,
        readings=readings,
        quality=quality,
        reasons=reasons or chart_reasons,
        seconds=time.perf_counter() - started,
    )


def _judge_chart(readings: list[PageReading], config: IntakeConfig) -> tuple[float, list[ReviewReason]]:
    """Chart quality and review reasons from the page readings and their "Page i of n" labels."""
    reasons = [
        ReviewReason("unreadable_page", f"{r.index} ({'; '.join(r.problems) or f'quality {r.quality:.2f}'})")
        for r in readings
        if r.quality < config.min_page_quality
    ]
    labels = [r.page_label for r in readings if r.page_label is not None]
    expected = max((n for _, n in labels), default=0)
    received = len(readings)
    absent = sorted(set(range(1, expected + 1)) - {i for i, _ in labels})
    if received < expected:
        detail = f" (no page {', '.join(map(str, absent))})" if absent else ""
        reasons.append(ReviewReason("missing_pages", f"expected {expected}, got {received}{detail}"))
    elif absent:
        # Enough pages arrived but some labels are absent: duplicates or pages from elsewhere took their place.
        reasons.append(ReviewReason("page_gap", ", ".join(map(str, absent))))
    # Missing pages count as quality 0: a chart with half its pages is not a good intake.
    quality = sum(r.quality for r in readings) / max(received, expected, 1)
    if quality < config.min_chart_quality:
        reasons.append(ReviewReason("low_intake_quality", f"{quality:.2f}"))
    return quality, reasons


def _read_page(index: int, path: Path, config: IntakeConfig) -> PageReading:
    """Validate one image, OCR it and score it; any failure becomes a problem on the reading."""
    started = time.perf_counter()
    failure = _image_problem(path, config.max_image_pixels)
    if failure is None:
        try:
            words, text = _ocr(path, config)
        except _OcrFailed as error:
            failure = f"ocr_failed: {path}: {error}"
    if failure is not None:
        return PageReading(index, "", None, 0, 0.0, [failure], None, time.perf_counter() - started)
    reading = _score(index, words, text, config)
    reading.seconds = time.perf_counter() - started
    return reading


def _image_problem(path: Path, max_pixels: int) -> str | None:
    """Why ``path`` is not an image tesseract should be given, or None when it is fine."""
    from PIL import Image, UnidentifiedImageError

    def problem(why: str) -> str:
        return f"unreadable_image: {path}: {why}"

    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            magic = handle.read(len(_PDF_MAGIC))
    except OSError as error:
        return problem(f"cannot read file ({error.strerror or error})")
    if size == 0:
        return problem("zero-byte file")
    if magic == _PDF_MAGIC:
        return problem("PDF document where a page image was expected")
    try:
        # Image.open parses only the header, so the pixel count is checked before anything is decoded.
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                return problem(f"image too large: {width}x{height} = {width * height} pixels > max_image_pixels {max_pixels}")
            image.verify()  # walks the chunks and their checksums: catches truncated and corrupt files
    except UnidentifiedImageError:
        return problem("not an image (format not recognised)")
    except Image.DecompressionBombError as error:
        return problem(f"image too large: {error}")
    except (OSError, SyntaxError, ValueError) as error:  # Pillow reports corrupt data with all three
        return problem(f"corrupt image ({error})")
    return None


class _OcrFailed(Exception):
    """Tesseract could not read one page."""


def _ocr(path: Path, config: IntakeConfig) -> tuple[list[tuple[str, float]], str]:
    """Run tesseract on one image: its words with confidences, and its text rebuilt line by line."""
    cmd = [config.tesseract_cmd, str(path), "stdout", "-l", config.language, "--psm", str(config.psm), "tsv"]
    env = {**os.environ, "OMP_THREAD_LIMIT": str(config.threads_per_process)}
    try:
        # A session of its own, so a timeout kills tesseract and anything it started, never leaving our pipes open.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    except FileNotFoundError:
        raise _OcrFailed(f"tesseract not found ({config.tesseract_cmd!r}): install Debian package tesseract-ocr") from None
    except OSError as error:  # not executable, not a program, ...
        raise _OcrFailed(f"cannot run tesseract {config.tesseract_cmd!r}: {error.strerror or error}") from None
    with proc:
        try:
            out, err = proc.communicate(timeout=config.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise _OcrFailed(f"tesseract timed out after {config.timeout_s:g} s") from None
    if proc.returncode != 0:
        raise _OcrFailed(f"tesseract exited with status {proc.returncode}: {_tail(err.decode(errors='replace'))}")
    try:
        return _parse_tsv(out.decode("utf-8", errors="replace"))
    except ValueError as error:  # a tesseract build or wrapper that does not write the TSV we asked for
        raise _OcrFailed(f"unexpected tesseract output ({error})") from None


def _parse_tsv(tsv: str) -> tuple[list[tuple[str, float]], str]:
    """Words with confidences from tesseract's TSV, and the text (lines joined by newlines, blocks by a blank line)."""
    words: list[tuple[str, float]] = []
    blocks: dict[int, dict[tuple[int, int], list[str]]] = {}
    for row in tsv.splitlines()[1:]:  # first line is the column header
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue  # only level-5 rows are words
        block, par, line, conf, word = int(cols[2]), int(cols[3]), int(cols[4]), float(cols[10]), cols[11].strip()
        words.append((word, conf))
        blocks.setdefault(block, {}).setdefault((par, line), []).append(word)
    text = "\n\n".join("\n".join(" ".join(ws) for ws in lines.values()) for lines in blocks.values())
    return words, text


def _score(index: int, words: list[tuple[str, float]], text: str, config: IntakeConfig) -> PageReading:
    """Page quality and problems from the OCR words."""
    labels = _PAGE_LABEL.findall(text)
    # The footer is the last label on the page; an OCR misread like "Page 7 of 3" is no label.
    label = next(((int(i), int(n)) for i, n in reversed(labels) if 1 <= int(i) <= int(n)), None)
    confident = [conf for _, conf in words if conf >= 0]
    mean_conf = sum(confident) / len(confident) if confident else None
    content_words = len(_PAGE_LABEL.sub(" ", text).split())
    if content_words < config.min_words:
        return PageReading(index, text, mean_conf, len(words), 0.0, ["blank_page"], label)
    garbled = sum(1 for word, _ in words if _is_garbled(word)) / len(words)
    quality = (mean_conf or 0.0) / 100 * (1 - garbled)
    problems = []
    if garbled > config.max_garbled_share:
        problems.append("garbled")
    if mean_conf is None or mean_conf < config.min_confidence:
        problems.append("low_confidence")
    return PageReading(index, text, mean_conf, len(words), round(quality, 4), problems, label)


def _is_garbled(token: str) -> bool:
    """True for OCR debris: no letter or digit, or letters, digits and symbols in an implausible mix."""
    return token not in _STANDALONE and not _PLAUSIBLE.match(token)


def _tail(stderr: str, limit: int = 200) -> str:
    """Last non-empty line of a tool's stderr, shortened: enough to say why without flooding a reason."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else "no error output"


def ocr_cer(ocr_text: str, source_text: str) -> float:
    """Character error rate: Levenshtein distance between OCR and source text divided by the source length.

    Whitespace runs (spaces, newlines, form feeds) are collapsed to one space and the ends
    stripped on both sides first, so line breaks and layout spacing, which OCR cannot
    reproduce exactly, are not counted as errors. An empty source gives 0.0 when the OCR
    text is empty too, else 1.0. The rate can exceed 1 when OCR inserts text.
    """
    from rapidfuzz.distance import Levenshtein

    ocr, source = " ".join(ocr_text.split()), " ".join(source_text.split())
    if not source:
        return 0.0 if not ocr else 1.0
    return Levenshtein.distance(ocr, source) / len(source)


def bare_tesseract_seconds(paths: Sequence[Path], config: IntakeConfig) -> float:
    """Seconds plain ``tesseract <img> stdout`` takes over ``paths``, one after another with default threads.

    The baseline for ``read_pages`` throughput; raises ``IntakeError`` when a page fails.
    """
    env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    started = time.perf_counter()
    for path in paths:
        done = subprocess.run([config.tesseract_cmd, str(path), "stdout"], capture_output=True, env=env, timeout=config.timeout_s)
        if done.returncode != 0:
            raise IntakeError(f"tesseract failed on {path}: {_tail(done.stderr.decode(errors='replace'))}")
    return time.perf_counter() - started
