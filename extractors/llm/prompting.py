"""Prompt, schema and output parsing shared by every model-served extractor (transformers, vLLM, servers).

- ``load_template(name)`` reads ``extractors/llm/prompts/<name>.yaml`` (versioned: its ``version`` goes
  on every ``Extraction``).
- ``findings_schema(template)`` is the JSON schema of the answer: bounded (``maxItems``, ``maxLength``)
  so constrained decoding always terminates, and its ICD-10-CM pattern uses ``(...|)`` alternations,
  never an optional group holding a quantifier (xgrammar mis-compiles ``(\\.[0-9A-Z]{1,4})?``).
- ``render_messages`` puts the static instructions and the schema first and the chart text last, so
  a prefix cache is shared by every chart of a sweep; rendering is deterministic. A template whose
  ``input`` is ``page_images`` (the VLM path) gets the chart as image parts before its user text:
  ``render_page_messages``, with parts built by the backend (PIL images offline, data URLs to servers)
  from ``page_image``.
- ``chunk_text`` splits long charts by characters with overlap; ``merge_findings`` joins the findings
  of the chunks of one chart.
- ``parse_findings`` turns raw model output into ``Finding``s with a schema-valid flag and an error;
  it never raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.contracts import Finding

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"

ICD10CM_PATTERN = r"^([A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4}|)|)$"
"""An ICD-10-CM code with its dot, or "" (no code). Alternations only: see the module docstring."""

KINDS = ["diagnosis", "procedure", "symptom", "other"]
ASSERTIONS = ["present", "negated", "possible", "historical", "family"]
TRUNCATED = "truncated: max_new_tokens reached"
"""Error recorded when generation stopped at the token limit instead of at end of sequence."""


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt: system message with ``{schema}``, user message with ``{part}``, ``{parts}``, ``{chart}``
    (``{chart}`` only for text input: page-image prompts get the pages as image parts)."""

    name: str
    version: str
    system: str
    user: str
    input: Literal["text", "page_images"] = "text"
    max_findings: int = 24
    max_text_chars: int = 120
    max_evidence_chars: int = 200

    @property
    def schema(self) -> dict[str, Any]:
        return findings_schema(self.max_findings, self.max_text_chars, self.max_evidence_chars)


@cache
def load_template(name: str = "findings_v1") -> PromptTemplate:
    """Read ``extractors/llm/prompts/<name>.yaml`` (or a YAML file path)."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else PROMPTS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"prompt {name!r} not found (known: {known})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    limits = data.get("limits") or {}
    reads = data.get("input", "text")
    if reads not in ("text", "page_images"):
        raise ValueError(f"prompt {path}: input must be 'text' or 'page_images', not {reads!r}")
    for key, placeholders in (("system", ["{schema}"]), ("user", ["{chart}"] if reads == "text" else [])):
        missing = [p for p in placeholders if p not in data.get(key, "")]
        if missing:
            raise ValueError(f"prompt {path}: {key} lacks {missing}")
    return PromptTemplate(
        name=path.stem,
        version=str(data["version"]),
        system=data["system"].strip(),
        user=data["user"].strip(),
        input=reads,
        max_findings=int(limits.get("max_findings", 24)),
        max_text_chars=int(limits.get("max_text_chars", 120)),
        max_evidence_chars=int(limits.get("max_evidence_chars", 200)),
    )


def findings_schema(max_findings: int = 24, max_text_chars: int = 120, max_evidence_chars: int = 200) -> dict[str, Any]:
    """JSON schema of the model's answer: ``{"findings": [{text, kind, assertion, code, evidence}, ...]}``."""
    return {
        "type": "object",
        "properties": {
            "findings": {
                "type": "array",
                "maxItems": max_findings,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": max_text_chars},
                        "kind": {"type": "string", "enum": KINDS},
                        "assertion": {"type": "string", "enum": ASSERTIONS},
                        # bounded by the pattern (xgrammar ignores maxLength beside a pattern)
                        "code": {"type": "string", "pattern": ICD10CM_PATTERN},
                        "evidence": {"type": "string", "maxLength": max_evidence_chars},
                    },
                    "required": ["text", "kind", "assertion", "code", "evidence"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["findings"],
        "additionalProperties": False,
    }


def schema_json(template: PromptTemplate) -> str:
    """The schema as it appears in the prompt: compact, keys in a fixed order."""
    return json.dumps(template.schema, separators=(",", ":"))


def render_messages(template: PromptTemplate, chart_text: str, part: int = 1, parts: int = 1) -> list[dict[str, str]]:
    """Chat messages for one chunk of a chart: system (instructions + schema), then user (chart last)."""
    system = template.system.replace("{schema}", schema_json(template))
    user = template.user.replace("{part}", str(part)).replace("{parts}", str(parts))
    user = user.replace("{chart}", chart_text)  # last: the chart may itself contain "{part}" and the like
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_page_messages(template: PromptTemplate, image_parts: list[dict[str, Any]], part: int = 1,
                         parts: int = 1) -> list[dict[str, Any]]:
    """Chat messages for a group of page images: system as for text, then the images and the user text."""
    system = template.system.replace("{schema}", schema_json(template))
    user = template.user.replace("{part}", str(part)).replace("{parts}", str(parts))
    return [{"role": "system", "content": system}, {"role": "user", "content": [*image_parts, {"type": "text", "text": user}]}]


def page_image(path: str, max_side: int):
    """A page image as RGB, shrunk so its longer side is at most ``max_side`` pixels (VLM token budget)."""
    from PIL import Image

    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def image_data_url(image) -> str:
    """A PIL image as a PNG ``data:`` URL (what OpenAI-compatible servers take as an ``image_url``)."""
    import base64
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chunk_text(text: str, chunk_chars: int, overlap: int = 0) -> list[tuple[int, str]]:
    """Split ``text`` into ``(offset, chunk)`` pieces of at most ``chunk_chars`` characters.

    Consecutive chunks share about ``overlap`` characters, so a finding on a boundary is seen whole
    in one of them. Cuts prefer whitespace in the last fifth of a chunk. A text that fits is one chunk.
    """
    if chunk_chars <= 0:
        raise ValueError("chunk_chars must be positive")
    overlap = max(0, min(overlap, chunk_chars // 2))
    if len(text) <= chunk_chars:
        return [(0, text)]
    chunks: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + chunk_chars, len(text))
        if end < len(text):
            floor = start + (chunk_chars * 4) // 5
            cut = max(text.rfind(" ", floor, end), text.rfind("\n", floor, end))
            if cut > start:
                end = cut + 1
        chunks.append((start, text[start:end]))
        if end >= len(text):
            break
        next_start = max(end - overlap, start + 1)
        if overlap:  # start the next chunk at a word boundary inside the overlap
            space = text.find(" ", next_start, end)
            if space != -1:
                next_start = space + 1
        start = next_start
    return chunks


@dataclass
class ParsedOutput:
    """What ``parse_findings`` made of one raw output."""

    findings: list[Finding] = field(default_factory=list)
    schema_valid: bool = False
    error: str | None = None


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _validator(schema: dict[str, Any]):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema)


def _to_finding(item: dict[str, Any]) -> Finding:
    from coders.codeset import canonical_code

    code = (item.get("code") or "").strip()
    return Finding(
        text=item["text"].strip(),
        kind=item["kind"],
        assertion=item["assertion"],
        code=canonical_code(code, "icd10cm") if code else None,
        attributes={"evidence_quote": item.get("evidence", "")},
    )


def parse_findings(raw: str | None, schema: dict[str, Any], truncated: bool = False) -> ParsedOutput:
    """Parse and validate a raw answer. Never raises.

    The whole answer (modulo surrounding whitespace and a Markdown code fence) must be one JSON
    object valid against ``schema`` for ``schema_valid``. When the object is schema-invalid, the items
    of ``findings`` that are valid on their own are still returned (salvaged), with ``schema_valid``
    False and the first violation as the error. ``truncated`` (generation hit its token limit) makes
    unparsable output report ``TRUNCATED``.
    """
    text = (raw or "").strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    if not text:
        return ParsedOutput(error=TRUNCATED if truncated else "empty output")
    try:
        data = json.loads(text)
    except ValueError as error:
        return ParsedOutput(error=TRUNCATED if truncated else f"invalid JSON: {error}")
    validator = _validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return ParsedOutput(findings=[_to_finding(item) for item in data["findings"]], schema_valid=True)
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path) or "(root)"
    message = first.message if len(first.message) <= 200 else first.message[:197] + "..."
    parsed = ParsedOutput(error=f"schema: {where}: {message}")
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        item_validator = _validator(schema["properties"]["findings"]["items"])
        parsed.findings = [_to_finding(item) for item in data["findings"] if item_validator.is_valid(item)]
    return parsed


def _key(finding: Finding) -> tuple:
    return (finding.code or "", " ".join(finding.text.lower().split()), finding.assertion, finding.kind)


def merge_findings(per_chunk: list[list[Finding]]) -> list[Finding]:
    """Join the findings of a chart's chunks: one finding per (code, text, assertion, kind), spans united.

    Order is of first appearance; the merged finding keeps the highest confidence, and its evidence is
    supported when any of the merged ones was.
    """
    merged: dict[tuple, Finding] = {}
    for findings in per_chunk:
        for finding in findings:
            key = _key(finding)
            into = merged.get(key)
            if into is None:
                merged[key] = finding.model_copy(deep=True)
                continue
            seen = {(s.start, s.end) for s in into.spans}
            into.spans.extend(s for s in finding.spans if (s.start, s.end) not in seen)
            into.spans.sort(key=lambda s: (s.start, s.end))
            into.confidence = max(into.confidence, finding.confidence)
            if finding.attributes.get("evidence_supported") and not into.attributes.get("evidence_supported"):
                into.attributes.update(finding.attributes)
    return list(merged.values())
