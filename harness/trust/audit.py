"""Hash-chained audit trail: one JSON line per chart with its whole decision path.

Each line is the canonical JSON of an ``AuditRecord`` plus ``seq`` (1-based line number),
``prev_hash`` (the previous line's ``hash``; ``"0" * 64`` on the first line) and ``hash``
(sha256 over the canonical JSON of the line without ``hash``). Canonical JSON is
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``. Changing, deleting,
inserting or reordering a line breaks the chain at that line; ``verify_audit`` names it.

Anyone can recompute sha256, so the chain proves integrity only against edits that do not
rewrite every later line, and it cannot see lines cut from the end. Keep the head hash that
``write_audit`` returns somewhere else (the run's tracking record) and pass it to
``verify_audit(head=...)`` to close both gaps.

With ``redact=True`` (the default) a record holds no patient text (``harness.trust.redaction``):
evidence and finding spans keep their offsets with ``[REDACTED]`` text, finding text is redacted
and extractor attributes are dropped, and the raw model output is left out. Codes, rule ids, reasons and hashes stay.

``harness audit verify <file> [--head HASH]`` (``harness.cli.audit``) checks a file with ``verify_audit``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.atomic_files import atomic_write
from harness.contracts import (
    AuditEvent,
    Chart,
    ChartResult,
    CodeAssignment,
    EditResult,
    Extraction,
    Finding,
    ReviewReason,
    Route,
    digest,
)
from harness.trust.redaction import redact_finding, redact_result

GENESIS = "0" * 64
"""``prev_hash`` of the first line."""


def canonical(value: Any) -> str:
    """The one JSON spelling of ``value`` that hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


class RunMeta(BaseModel):
    """What produced a run, as the caller knows it."""

    model_config = ConfigDict(extra="forbid")

    extractor: str
    """Registry name of the extractor."""
    extractor_version: str = ""
    """Version of the extractor."""
    model_id: str | None = None
    """Model identifier, for model-served extractors."""
    model_revision: str | None = None
    """Model revision (commit or file digest)."""
    prompt_version: str | None = None
    """Prompt version, for prompted extractors."""
    pack_version: str = ""
    """``<pack name>@<version>`` of the rule pack."""
    code_set_year: int | None = None
    """Fiscal year of the ICD-10 code set."""
    degradation: str | None = None
    """Name of the degradation applied to the charts; None for clean input."""
    seed: int | None = None
    """Random seed of the run."""


class AuditRecord(BaseModel):
    """The decision path of one chart; build it with ``AuditRecord.build``."""

    model_config = ConfigDict(extra="forbid")

    chart_id: str
    """Chart the record is about."""
    recorded_at: str
    """When the record was built, UTC ISO 8601."""
    run: RunMeta
    """What produced the result."""
    redacted: bool
    """True when the record holds no patient text."""
    input_hash: str
    """``Chart.content_hash()`` of the chart the pipeline read."""
    output_hash: str
    """``digest`` of the full ``ChartResult`` (taken before redaction)."""
    extraction_hash: str | None = None
    """``digest`` of the extraction, when one was given."""
    route: Route
    """Where the chart went."""
    reasons: list[ReviewReason] = Field(default_factory=list)
    """Why it went to review (each written ``kind: detail``, as in ``ChartResult``)."""
    events: list[AuditEvent] = Field(default_factory=list)
    """Stages in order, with rules fired and the routing decision."""
    edits: list[EditResult] = Field(default_factory=list)
    """Validation edits and their outcome."""
    codes: list[CodeAssignment] = Field(default_factory=list)
    """Assigned codes with evidence spans (span text ``[REDACTED]`` when redacted)."""
    findings: list[Finding] | None = None
    """Extractor findings, when an extraction was given (text ``[REDACTED]`` when redacted)."""
    raw_output: str | None = None
    """Raw extractor output; never present when redacted."""

    @classmethod
    def build(
        cls,
        result: ChartResult,
        chart: Chart,
        run: RunMeta,
        *,
        extraction: Extraction | None = None,
        redact: bool = True,
        now: datetime | None = None,
    ) -> AuditRecord:
        """Record ``result`` for ``chart``; ``now`` (default: the current time) is stored in UTC."""
        if chart.id != result.chart_id:
            raise ValueError(f"result is for chart {result.chart_id!r}, not {chart.id!r}")
        codes = redact_result(result).codes if redact else result.codes
        findings = None
        if extraction is not None:
            findings = [redact_finding(f) for f in extraction.findings] if redact else extraction.findings
        return cls(
            chart_id=result.chart_id,
            recorded_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
            run=run,
            redacted=redact,
            input_hash=chart.content_hash(),
            output_hash=digest(result),
            extraction_hash=digest(extraction) if extraction is not None else None,
            route=result.route,
            reasons=result.reasons,
            events=result.audit,
            edits=result.edits,
            codes=codes,
            findings=findings,
            raw_output=None if redact or extraction is None else extraction.raw_output,
        )


def write_audit(path: str | Path, records: Iterable[AuditRecord]) -> str:
    """Write ``records`` as a hash-chained JSONL file (replacing it); return the head hash."""
    prev = GENESIS
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as out:
        for seq, record in enumerate(records, start=1):
            line = {**record.model_dump(mode="json"), "seq": seq, "prev_hash": prev}
            line["hash"] = prev = _sha256(line)
            out.write(canonical(line) + "\n")
    return prev


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of ``verify_audit``."""

    ok: bool
    """True when every line checks out (and the head matches, when one was given)."""
    records: int
    """Lines that verified before the first problem (all of them when ``ok``)."""
    line: int | None = None
    """1-based number of the first bad line; None when ``ok``."""
    reason: str = ""
    """Why that line is bad."""
    head: str = GENESIS
    """``hash`` of the last line that verified."""

    def __str__(self) -> str:
        return f"ok: {self.records} records, chain intact" if self.ok else f"line {self.line}: {self.reason}"


def verify_audit(path: str | Path, *, head: str | None = None) -> VerifyReport:
    """Check every line of an audit file; report the first bad one. Tampering is reported, never raised."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audit file not found: {path}")
    lines = path.read_bytes().split(b"\n")
    if lines[-1] == b"":  # the writer ends every line with a newline
        lines.pop()
    prev = GENESIS
    for number, raw in enumerate(lines, start=1):
        reason = _problem(raw, number, prev)
        if reason:
            return VerifyReport(ok=False, records=number - 1, line=number, reason=reason, head=prev)
        prev = json.loads(raw)["hash"]
    if head is not None and head != prev:
        reason = f"last hash {prev[:16]}… is not the expected head {head[:16]}… (lines cut from the end, or chain rewritten)"
        return VerifyReport(ok=False, records=len(lines), line=len(lines), reason=reason, head=prev)
    return VerifyReport(ok=True, records=len(lines), head=prev)


def _problem(raw: bytes, number: int, prev: str) -> str:
    """Why line ``number`` is bad; empty when it is sound and follows ``prev``."""
    try:
        line = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"not valid JSON, truncated or corrupted ({error})"
    if not isinstance(line, dict) or not isinstance(line.get("hash"), str) or not isinstance(line.get("prev_hash"), str):
        return "not an audit line (no hash or prev_hash)"
    claimed = line.pop("hash")
    if _sha256(line) != claimed:
        return "content changed: hash does not match the line"
    if line.get("seq") != number:
        return f"holds record {line.get('seq')!r} where record {number} belongs (a line was deleted, inserted or reordered)"
    if line["prev_hash"] != prev:
        return "prev_hash does not match the previous line's hash (chain broken)"
    return ""
