"""Page-image damage in vectorised NumPy and Pillow: fax transmission and scanning.

Every operation takes a greyscale page and its resolution and returns new ones; all randomness
comes from the generator it is given, so the same seed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from harness.intake.degrade.config import AugraphyOp, FaxOp, ImageOp, ScanOp
from harness.intake.render import load_font

Dpi = tuple[int, int]
RngFor = Callable[..., np.random.Generator]
"""Makes the generator for a key (stage name, page, op index) of the current chart and seed."""

FAX_DPI = {"standard": (204, 98), "fine": (204, 196)}
FAX_SENDER = "555-0100"


def apply_image_ops(ops: Sequence[ImageOp], source: Path, dest: Path, rng_for: RngFor, position: int) -> Path:
    """Apply ``ops`` in order to the page at ``source`` (delivered at ``position``) and write ``dest`` (PNG)."""
    with Image.open(source) as opened:
        image = opened.convert("L")
        dpi: Dpi = tuple(round(d) for d in opened.info.get("dpi", (200, 200)))  # type: ignore[assignment]
    for k, op in enumerate(ops):
        rng = rng_for("image", position, k)
        if isinstance(op, FaxOp):
            # One transmission per chart: every page carries the same time stamp.
            image, dpi = fax(image, dpi, op, rng, stamp=fax_stamp(rng_for("fax-stamp", k)), page_number=position + 1)
        elif isinstance(op, ScanOp):
            image, dpi = scan(image, dpi, op, rng)
        elif isinstance(op, AugraphyOp):
            from harness.intake.degrade.augraphy_ops import augraphy

            image = augraphy(image, op.preset, seed=int(rng.integers(2**31 - 1)))
        else:  # a new op type added to the config but not here must fail, not run as another op
            raise TypeError(f"no image operation implements {type(op).__name__} (type {getattr(op, 'type', '?')!r})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Damaged pages are noisy: strong zlib effort costs 5x the time for a few percent of size.
    image.save(dest, format="PNG", dpi=dpi, compress_level=1)
    return dest


def fax_stamp(rng: np.random.Generator) -> str:
    """A plausible transmission date and time (2019-2024, office hours)."""
    day = date(2019, 1, 1) + timedelta(days=int(rng.integers(0, 6 * 365)))
    minute = int(rng.integers(7 * 60, 19 * 60))
    return f"{day:%m/%d/%Y} {minute // 60:02d}:{minute % 60:02d}"


def fax(
    image: Image.Image, dpi: Dpi, op: FaxOp, rng: np.random.Generator, stamp: str, page_number: int
) -> tuple[Image.Image, Dpi]:
    """Send a page through a fax: skewed feed, fax grid, bilevel, header line, line noise."""
    if op.skew_degrees:
        image = _rotate(image, rng.uniform(-op.skew_degrees, op.skew_degrees))
    fax_dpi = FAX_DPI[op.resolution]
    size = (round(image.width * fax_dpi[0] / dpi[0]), round(image.height * fax_dpi[1] / dpi[1]))
    # BOX averages the area each fax pixel covers, like the sender's scan bar.
    image = image.resize(size, Image.Resampling.BOX)
    dither = Image.Dither.FLOYDSTEINBERG if op.binarize == "dither" else Image.Dither.NONE
    ink = np.asarray(image.convert("1", dither=dither)) == 0  # Pillow's C error diffusion: exact and fast
    if op.transmission_header:
        _stamp_header(ink, f"FROM: {FAX_SENDER}  {stamp}  P.{page_number:02d}", fax_dpi)
    if op.dropped_lines:
        ink = _drop_lines(ink, op.dropped_lines, rng)
    for _ in range(op.streaks):
        _streak(ink, rng)
    if op.speckle_density:
        ink ^= rng.random(ink.shape, dtype=np.float32) < op.speckle_density
    out = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8))
    if op.jpeg_quality is not None:
        out = jpeg(out, op.jpeg_quality)
    return out, fax_dpi


def _stamp_header(ink: np.ndarray, text: str, fax_dpi: Dpi) -> None:
    """Print the sender line at the top, as the sending machine does, on its non-square grid."""
    x_dpi, y_dpi = fax_dpi
    font = load_font(round(8 * x_dpi / 72))
    strip = Image.new("L", (ink.shape[1], round(font.size * 1.3)), 255)
    ImageDraw.Draw(strip).text((round(0.25 * x_dpi), 0), text, font=font, fill=0)
    strip = strip.resize((strip.width, max(1, round(strip.height * y_dpi / x_dpi))), Image.Resampling.BOX)
    rows = np.asarray(strip) < 128
    top = round(0.08 * y_dpi)
    ink[top : top + rows.shape[0]] = rows[: ink.shape[0] - top]


def _drop_lines(ink: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Lose scan lines: each lost line arrives blank or as a repeat of the last good line."""
    height = ink.shape[0]
    lost = rng.random(height) < rate
    repeat = rng.random(height) < 0.5
    last_good = np.maximum.accumulate(np.where(lost, -1, np.arange(height)))
    out = ink[np.maximum(last_good, 0)]
    out[lost & (~repeat | (last_good < 0))] = False
    return out


def _streak(ink: np.ndarray, rng: np.random.Generator) -> None:
    """A broken horizontal black line over part of the width."""
    height, width = ink.shape
    y = int(rng.integers(0, height))
    thickness = int(rng.integers(1, 4))
    x0 = int(rng.integers(0, width // 2))
    length = int(rng.integers(width // 4, width - x0 + 1))
    ink[y : y + thickness, x0 : x0 + length] |= rng.random(length) < 0.9


def scan(image: Image.Image, dpi: Dpi, op: ScanOp, rng: np.random.Generator) -> tuple[Image.Image, Dpi]:
    """Scan a printed page: rotation on the glass, optical blur, resampling, sensor noise, compression."""
    if op.blur_radius:
        image = image.filter(ImageFilter.GaussianBlur(op.blur_radius))
    size = (round(image.width * op.dpi / dpi[0]), round(image.height * op.dpi / dpi[1]))
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    # Rotating after resampling gives the same page at a fraction of the cost when scanning down.
    if op.rotation_degrees:
        image = _rotate(image, rng.uniform(-op.rotation_degrees, op.rotation_degrees))
    if op.noise_sigma:
        noisy = (
            np.asarray(image, dtype=np.float32)
            + rng.standard_normal((image.height, image.width), dtype=np.float32) * op.noise_sigma
        )
        image = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    if op.jpeg_quality is not None:
        image = jpeg(image, op.jpeg_quality)
    return image, (op.dpi, op.dpi)


def _rotate(image: Image.Image, degrees: float) -> Image.Image:
    """Rotate about the centre on white paper; bilinear is half the cost of bicubic and looks the same on text."""
    return image.rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=255)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """Round-trip through JPEG at ``quality`` (the page stays a PNG on disk, with JPEG artefacts)."""
    buffer = BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("L")
