"""Ground a model's quoted evidence in the chart: quote -> character offsets, or flagged as unsupported.

A model-served extractor returns evidence as quoted strings. ``align_quote`` finds a quote in the text:

1. ``exact``: the quote occurs verbatim;
2. ``case_insensitive``: it occurs ignoring case and differences in whitespace;
3. ``fuzzy``: rapidfuzz ``partial_ratio_alignment`` finds a substring scoring at least ``threshold``
   (0-100) - OCR noise, a dropped word, a changed inflection.

``attach_evidence`` sets each finding's spans and ``attributes``: ``evidence_supported`` (bool),
``evidence_match`` (exact | case_insensitive | fuzzy | none) and ``evidence_score``. A quote that
aligns nowhere is unsupported (the model made it up or paraphrased too far);
``unsupported_evidence_rate`` is the share of quoted findings whose quote is unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.contracts import Chart, Extraction, Finding, Span

DEFAULT_THRESHOLD = 85.0
"""Minimum rapidfuzz partial ratio (0-100) for a fuzzy alignment."""
MIN_QUOTE_CHARS = 3
"""Shorter quotes are too ambiguous to ground and count as unsupported."""


@dataclass(frozen=True)
class Alignment:
    """Where a quote sits in a text: ``[start, end)`` and how it was found."""

    start: int
    end: int
    method: str
    """``exact``, ``case_insensitive`` or ``fuzzy``."""
    score: float
    """100 for exact and case-insensitive matches, the partial ratio for fuzzy ones."""


def _loose_pattern(quote: str) -> re.Pattern[str]:
    words = quote.split()
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)


def align_quote(text: str, quote: str, threshold: float = DEFAULT_THRESHOLD) -> Alignment | None:
    """Offsets of ``quote`` in ``text`` (first occurrence), or None when it is not supported."""
    quote = quote.strip()
    if len(quote) < MIN_QUOTE_CHARS or not text:
        return None
    start = text.find(quote)
    if start != -1:
        return Alignment(start, start + len(quote), "exact", 100.0)
    match = _loose_pattern(quote).search(text)
    if match:
        return Alignment(match.start(), match.end(), "case_insensitive", 100.0)
    if len(quote) > len(text):
        return None
    from rapidfuzz import fuzz

    folded_text = text.lower() if len(text.lower()) == len(text) else text  # offsets must stay valid
    folded_quote = quote.lower()
    result = fuzz.partial_ratio_alignment(folded_quote, folded_text, score_cutoff=threshold)
    if result is None or result.score < threshold:
        return None
    start, end = result.dest_start, result.dest_end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end <= start:
        return None
    return Alignment(start, end, "fuzzy", round(float(result.score), 1))


def attach_evidence(
    findings: Iterable[Finding],
    text: str,
    offset: int = 0,
    chart: Chart | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Finding]:
    """Align each finding's ``attributes["evidence_quote"]`` in ``text`` and set its spans (in place).

    ``text`` is the part of the chart the model saw, starting at chart offset ``offset``; when the quote
    is not in it, the whole ``chart`` text (if given) is searched. Spans carry chart offsets and pages.
    """
    findings = list(findings)
    for finding in findings:
        quote = str(finding.attributes.get("evidence_quote") or "")
        found, base = align_quote(text, quote, threshold), offset
        if found is None and chart is not None and (offset or len(text) != len(chart.text)):
            found, base = align_quote(chart.text, quote, threshold), 0
        if found is None:
            finding.attributes.update(evidence_supported=False, evidence_match="none", evidence_score=0.0)
            continue
        start, end = base + found.start, base + found.end
        source = chart.text if chart is not None else None
        span_text = source[start:end] if source is not None else text[found.start : found.end]
        page = chart.page_of(start) if chart is not None else 0
        finding.spans = [Span(start=start, end=end, text=span_text, page=page)]
        finding.attributes.update(evidence_supported=True, evidence_match=found.method, evidence_score=found.score)
    return findings


def unsupported_evidence_rate(extractions: Iterable[Extraction]) -> float | None:
    """Share of findings with a quoted evidence string that does not occur in the source (None if none quoted)."""
    quoted = unsupported = 0
    for extraction in extractions:
        for finding in extraction.findings:
            if "evidence_supported" not in finding.attributes:
                continue
            quoted += 1
            unsupported += not finding.attributes["evidence_supported"]
    return unsupported / quoted if quoted else None
