"""Data contracts shared by every pipeline stage (pydantic v2).

Offsets are character offsets into ``Chart.text`` (the whole chart), half-open
``[start, end)``. Pages carry their own offset into that text so evidence found on
a page maps back to the chart and survives rendering and OCR.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import CoreSchema, core_schema

CodeSystem = Literal["icd10cm", "icd10pcs"]
DEFAULT_CODE_SET_YEAR = 2026
"""The ICD-10-CM year used wherever none is configured (the April 2026 tabular that simple-icd-10-cm ships)."""
Assertion = Literal["present", "negated", "possible", "historical", "family", "hypothetical"]
"""How a mention applies to the patient; ``hypothetical``: only talked about (a risk, a condition, a warning)."""
Route = Literal["auto", "review"]
Language = Literal["en", "es"]
"""Chart languages the harness supports (ISO 639-1): those its extractors' assertion cues and lexicons and its
datasets (the sample, CodiEsp) cover."""


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Span(_Contract):
    """A piece of evidence: characters ``[start, end)`` of the chart text."""

    start: int = Field(ge=0)
    """First character, offset into the chart text."""
    end: int = Field(ge=0)
    """One past the last character."""
    text: str = ""
    """The characters themselves (may be redacted in artifacts)."""
    page: int = 0
    """Index of the page the span starts on."""

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before its start {self.start}")
        return self


class Page(_Contract):
    """One page of a chart: its text (and, after rendering, its image)."""

    index: int = Field(ge=0)
    """0-based page number."""
    offset: int = Field(ge=0)
    """Offset of the page's first character in the chart text."""
    text: str | None = None
    """Page text; None when the page exists only as an image."""
    image_path: str | None = None
    """Path of the page image, when the chart was rendered or scanned."""


class GoldCode(_Contract):
    """A reference code with the evidence that supports it."""

    code: str
    """Canonical code: upper case, ICD-10-CM with its dot (``N28.89``)."""
    system: CodeSystem = "icd10cm"
    """Code system the code belongs to."""
    evidence: list[Span] = Field(default_factory=list)
    """Evidence spans; empty where the source has document-level labels only."""
    discontinuous: list[list[int]] = Field(default_factory=list)
    """Indexes into ``evidence`` of the pieces of each discontinuous mention ("hígado ... esteatosis"
    annotated as one mention); every other span is a mention of its own."""

    @model_validator(mode="after")
    def _pieces_exist(self) -> GoldCode:
        for parts in self.discontinuous:
            if len(parts) < 2 or not all(0 <= k < len(self.evidence) for k in parts):
                # the error's location names the code: a message quotes no value of it (redacted problems stay so)
                raise ValueError(f"discontinuous mention {parts} must name two or more of its "
                                 f"{len(self.evidence)} evidence spans by index")
        return self


class Chart(_Contract):
    """A patient chart (one clinical document, possibly several pages)."""

    id: str
    """Stable identifier, unique within a dataset; NFC-normalised, so one id typed composed or decomposed is one id."""
    language: Language = "en"
    """ISO 639-1 language of the text, one the harness supports (``Language``)."""
    text: str
    """Full text of the chart; all offsets point into it."""
    pages: list[Page] = Field(default_factory=list)
    """Pages in reading order; their texts are slices of ``text``."""
    gold: list[GoldCode] = Field(default_factory=list)
    """Reference codes (empty for unlabelled charts)."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Source-specific facts (file names, demographics, generator seed)."""

    @field_validator("id")
    @classmethod
    def _nfc(cls, chart_id: str) -> str:
        return unicodedata.normalize("NFC", chart_id)

    @model_validator(mode="after")
    def _pages_match_text(self) -> Chart:
        if not self.pages:
            self.pages = [Page(index=0, offset=0, text=self.text)]
        for page in self.pages:
            if page.text is not None and self.text[page.offset : page.offset + len(page.text)] != page.text:
                # no id in the message: it may be any length, and a chart file's problems name the line instead
                raise ValueError(f"page {page.index} text does not match the chart text at offset {page.offset}")
        return self

    def page_of(self, offset: int) -> int:
        """Index of the page holding character ``offset``."""
        index = 0
        for page in self.pages:
            if page.offset <= offset:
                index = page.index
        return index

    def content_hash(self) -> str:
        """Digest of what the pipeline reads (text, pages, page image bytes), not of the labels.

        Images count by content, not path: degraded pages live in a fresh temporary folder each run.
        """
        pages = [p.model_dump() | {"image_path": _file_digest(p.image_path) if p.image_path else None} for p in self.pages]
        payload = json.dumps({"text": self.text, "pages": pages}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


class Finding(_Contract):
    """A clinical concept the extractor found in the chart."""

    text: str
    """Normalised surface text of the concept."""
    kind: Literal["diagnosis", "procedure", "symptom", "other"] = "diagnosis"
    """What the concept is."""
    code: str | None = None
    """Code the extractor proposes for the concept (canonical form), if any."""
    system: CodeSystem = "icd10cm"
    """Code system of ``code``."""
    assertion: Assertion = "present"
    """Whether the concept applies to the patient now."""
    spans: list[Span] = Field(default_factory=list)
    """Where the concept occurs in the chart text."""
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Extractor-specific facts, e.g. candidate codes and the matched term source."""
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    """Extractor's confidence that the concept is present as asserted."""
    confidence_estimated: bool = True
    """False when ``confidence`` is only a prior the extractor had no evidence to estimate (e.g. a term
    never seen in training); routing sends such codes to review."""


class Extraction(_Contract):
    """Everything one extractor produced for one chart."""

    chart_id: str
    findings: list[Finding] = Field(default_factory=list)
    extractor: str
    """Registry name of the extractor."""
    model_id: str | None = None
    """Model identifier for model-served extractors."""
    model_revision: str | None = None
    prompt_version: str | None = None
    schema_valid: bool = True
    """Whether the raw output parsed and validated against the findings schema."""
    raw_output: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    """Why extraction failed, when it did (the chart then goes to review)."""


class CodeAssignment(_Contract):
    """A code the rule engine assigned, with its evidence and how it got there."""

    code: str
    system: CodeSystem = "icd10cm"
    description: str = ""
    confidence: float = Field(ge=0.0, le=1.0)
    raw_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """Confidence before calibration; None when the run does not calibrate."""
    confidence_estimated: bool = True
    """False when the confidence rests on a finding whose confidence is only the extractor's prior
    (``Finding.confidence_estimated``); routing sends such codes to review."""
    evidence: list[Span] = Field(default_factory=list)
    rule_trace: list[str] = Field(default_factory=list)
    """Rules of the pack that fired on this code, in order."""
    pack_version: str = ""
    """``<pack name>@<version>`` that produced the code."""


class EditResult(_Contract):
    """Outcome of one validation edit on a chart."""

    edit: str
    passed: bool
    codes: list[str] = Field(default_factory=list)
    detail: str = ""


class AuditEvent(_Contract):
    """One step of the decision path of a chart."""

    stage: str
    actor: str
    """Component that acted (extractor, rule pack, router)."""
    actor_version: str = ""
    input_hash: str = ""
    output_hash: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)
    """Small, text-free facts about the step (counts, rule ids, reasons)."""


ReasonKind = Literal[
    "extraction_failed", "low_confidence", "unestimated_confidence", "high_risk", "edit_failed", "no_codes",  # coders.routing
    "needs_specificity",  # coders.engine: a non-billable code the evidence does not settle
    "coding_failed", "edits_failed", "empty_chart", "intake_failed", "chart_timeout",  # harness.pipeline
    "no_page_images", "ocr_unavailable", "unreadable_page", "missing_pages", "page_gap", "low_intake_quality",  # intake
]
REASON_KINDS: frozenset[str] = frozenset(get_args(ReasonKind))


class ReviewReason(str):
    """Why a chart goes to review: a ``kind`` and a ``detail`` (``low_confidence`` / ``J96.01 0.85 < 0.9``).

    Read ``.kind`` and ``.detail``, never split the text. The value is also its own wire form, the string
    ``"<kind>: <detail>"`` (``"<kind>"`` without detail), so JSON artifacts and audit hashes are those of the plain
    strings, and a pydantic field typed ``ReviewReason`` accepts that string (parsed once, unknown kinds refused).
    """

    kind: ReasonKind
    detail: str

    def __new__(cls, kind: ReasonKind, detail: str = "") -> ReviewReason:
        if kind not in REASON_KINDS:
            raise ValueError(f"unknown review reason kind {kind!r}; known: {', '.join(sorted(REASON_KINDS))}")
        reason = super().__new__(cls, f"{kind}: {detail}" if detail else kind)
        reason.kind, reason.detail = kind, detail
        return reason

    def __getnewargs__(self) -> tuple[str, str]:  # copy and pickle rebuild it from its parts, not from the text
        return self.kind, self.detail

    @classmethod
    def parse(cls, text: str) -> ReviewReason:
        """The reason written as ``text`` (its wire form)."""
        if isinstance(text, ReviewReason):
            return text
        kind, _, detail = text.partition(": ")
        return cls(kind, detail)  # type: ignore[arg-type]  # checked in __new__

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls.parse, core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str, return_schema=core_schema.str_schema()))


class ChartResult(_Contract):
    """The pipeline's outcome for one chart: coded, or routed to review with reasons."""

    chart_id: str
    codes: list[CodeAssignment] = Field(default_factory=list)
    route: Route = "auto"
    reasons: list[ReviewReason] = Field(default_factory=list)
    """Why the chart went to review (empty when routed ``auto``)."""
    edits: list[EditResult] = Field(default_factory=list)
    intake_quality: float | None = None
    """Intake quality score in [0, 1]; None for text charts that skip intake."""
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    """Seconds this chart spent in each stage."""
    audit: list[AuditEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _review_has_reason(self) -> ChartResult:
        if self.route == "review" and not self.reasons:
            raise ValueError(f"chart {self.chart_id!r} is routed to review without a reason")
        return self


def _file_digest(path: str) -> str:
    """sha256 of a file's bytes; a missing file hashes as its name (the extractor reports it missing)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return f"missing:{path}"


def digest(value: Any) -> str:
    """Stable short sha256 of a JSON-serialisable value or a pydantic model."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    payload = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
