"""Typed degradation settings (the ``degradation`` Hydra group).

Kept free of NumPy and Pillow so that validating a config at CLI start costs nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RenderConfig(_Config):
    """How chart text is typeset onto page images (a printed note, before any damage)."""

    page_size: Literal["letter", "a4"] = "letter"
    """Paper size: US Letter (8.5 x 11 in) or A4 (210 x 297 mm)."""
    dpi: int = Field(default=200, ge=72, le=600)
    """Rendering resolution in dots per inch (200 dpi Letter = 1700 x 2200 pixels)."""
    margin_inches: float = Field(default=0.75, ge=0.25, le=2.0)
    """Blank margin on every side; header and footer sit inside the top and bottom margins."""
    font_size_pt: float = Field(default=10.0, ge=6.0, le=16.0)
    """Body font size in points (DejaVu Sans Mono); 10-11 pt at 200 dpi is comfortably OCR-able."""
    line_spacing: float = Field(default=1.2, ge=1.0, le=2.0)
    """Baseline-to-baseline distance as a multiple of the font size."""
    font_path: str | None = None
    """TrueType font file; None finds DejaVu Sans Mono (Debian ``fonts-dejavu-core``)."""


class PageOpsConfig(_Config):
    """Damage at the level of whole pages (what a fax machine or a clerk does to a document)."""

    drop_pages: int = Field(default=0, ge=0)
    """Pages lost from the delivered document; at most ``n - 1`` of ``n``, so a chart never vanishes."""
    shuffle: bool = False
    """Deliver the pages in a random order (never the original order when there are two or more)."""
    duplicate_pages: int = Field(default=0, ge=0)
    """Pages delivered twice (the copy follows its original, as when a sheet is fed twice)."""
    copy_forward: bool = False
    """Prepend to a later page a block copied from an earlier page, labelled as copied from a prior note."""

    def is_identity(self) -> bool:
        """True when the pages pass through untouched."""
        return self == PageOpsConfig()


class FaxOp(_Config):
    """A page sent through a fax line: fax sampling grid, bilevel image, transmission damage."""

    type: Literal["fax"] = "fax"
    """Discriminator of the image operation."""
    resolution: Literal["standard", "fine"] = "fine"
    """Fax sampling grid: ``standard`` 204 x 98 dpi or ``fine`` 204 x 196 dpi (pixels stay non-square)."""
    binarize: Literal["threshold", "dither"] = "threshold"
    """Grey to black/white: fixed threshold (text mode) or Floyd-Steinberg error diffusion (photo mode)."""
    speckle_density: float = Field(default=0.0, ge=0.0, le=0.1)
    """Share of pixels flipped black/white by line noise."""
    streaks: int = Field(default=0, ge=0, le=50)
    """Horizontal black streaks (dirty scanner bar, line glitches)."""
    dropped_lines: float = Field(default=0.0, ge=0.0, le=0.5)
    """Share of scan lines lost in transmission (shown blank or as a repeat of the line above)."""
    skew_degrees: float = Field(default=0.0, ge=0.0, le=10.0)
    """Largest page rotation from crooked feeding; each page draws an angle in ``[-max, max]``."""
    jpeg_quality: int | None = Field(default=None, ge=1, le=95)
    """Re-encode as JPEG at this quality (a fax forwarded as email); None keeps the page bilevel."""
    transmission_header: bool = True
    """Stamp the sender line (``FROM: 555-0100  <date>  P.01``) across the top of each page."""


class ScanOp(_Config):
    """A printed page photocopied or scanned back to an image."""

    type: Literal["scan"] = "scan"
    """Discriminator of the image operation."""
    dpi: int = Field(default=150, ge=50, le=600)
    """Scan resolution (resampled from the page's own resolution)."""
    blur_radius: float = Field(default=0.0, ge=0.0, le=5.0)
    """Gaussian blur radius in pixels of the source page (optics, focus)."""
    noise_sigma: float = Field(default=0.0, ge=0.0, le=64.0)
    """Standard deviation of additive Gaussian sensor noise, in grey levels (0-255)."""
    rotation_degrees: float = Field(default=0.0, ge=0.0, le=10.0)
    """Largest page rotation on the glass; each page draws an angle in ``[-max, max]``."""
    jpeg_quality: int | None = Field(default=None, ge=1, le=95)
    """Save through JPEG at this quality (scanner compression); None skips it."""


class AugraphyOp(_Config):
    """A pipeline of the Augraphy document-augmentation library (slow: seconds per page)."""

    type: Literal["augraphy"] = "augraphy"
    """Discriminator of the image operation."""
    preset: Literal["default"] = "default"
    """Augraphy pipeline: ``default`` is ``augraphy.default_augraphy_pipeline()`` (ink, paper and post phases)."""


ImageOp = Annotated[FaxOp | ScanOp | AugraphyOp, Field(discriminator="type")]


class DegradationConfig(_Config):
    """How a chart is damaged before intake: text noise for text pipelines, or rendered pages and their damage."""

    name: str = Field(default="clean", min_length=1)
    """Degradation setting (equals the Hydra option); ``clean`` leaves charts untouched."""
    render: RenderConfig | None = None
    """Typeset the chart onto page images; None keeps the chart as text (no images)."""
    page_ops: PageOpsConfig = Field(default_factory=PageOpsConfig)
    """Whole-page damage (needs ``render``)."""
    image_ops: list[ImageOp] = Field(default_factory=list)
    """Image damage applied to every delivered page, in order (needs ``render``)."""
    text_noise: float | None = Field(default=None, gt=0.0, le=0.5)
    """OCR-like character confusions per character of text (rn/m, 0/O, l/1, cl/d, e/c ...); text-only configs."""

    @model_validator(mode="after")
    def _consistent(self) -> DegradationConfig:
        if self.render is None and (self.image_ops or not self.page_ops.is_identity()):
            raise ValueError("page_ops and image_ops act on page images: set render")
        if self.render is not None and self.text_noise is not None:
            raise ValueError("text_noise applies to text-only configs (render: null); rendered pages get noise from image_ops")
        return self
