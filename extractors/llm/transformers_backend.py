"""The ``transformers`` extractor: a chat model served by Hugging Face transformers (``generate``).

The fallback model backend where vLLM is absent (and the reference its results are checked against).
Prompt, schema, parsing and evidence alignment are shared with the other model backends
(``extractors.llm.prompting``, ``extractors.llm.evidence``); this module only runs the model.

- Charts longer than ``chunk_chars`` are split with overlap; every chunk is one prompt; a chart's
  findings are merged across its chunks.
- Prompts are sorted by length and run in batches of ``batch_size`` (left padding), greedy when
  ``temperature`` is 0. Generation is not grammar-constrained here: the schema is in the prompt and the
  output is validated, so ``schema_valid`` measures what the model really produced.
- Every chart gets exactly one ``Extraction`` with tokens, latency, raw output, ``schema_valid``,
  ``error`` (``"truncated: max_new_tokens reached"`` when generation hit the limit without end of
  sequence), ``model_id``, ``model_revision`` (short sha256 of the weights) and ``prompt_version``.
  A chart that fails is returned with ``error`` set; ``extract`` never raises for one bad chart.

torch and transformers are imported on first use, so building the extractor (config check) is instant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from extractors.llm.evidence import DEFAULT_THRESHOLD, attach_evidence
from extractors.llm.prompting import (
    TRUNCATED,
    chunk_text,
    load_template,
    merge_findings,
    page_image,
    parse_findings,
    render_messages,
    render_page_messages,
)
from harness.contracts import Chart, Extraction, Finding

log = logging.getLogger(__name__)


class TransformersConfig(BaseModel):
    """Settings of the transformers extractor (``conf/extractor/transformers.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    reads_page_images: ClassVar[bool] = False
    """Whether the backend can send page images (the VLM path); transformers serves text prompts only."""

    name: Literal["transformers"] = "transformers"
    """Registry name of the extractor."""
    model: str = "smollm2"
    """A model ``extractors.llm.weights`` prepares (``smollm2``) or a local Hugging Face folder path."""
    max_new_tokens: int = Field(default=512, ge=1)
    """Generation limit per prompt; output cut at the limit is recorded as truncated."""
    batch_size: int = Field(default=4, ge=1)
    """Prompts per ``generate`` call (left-padded batch)."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 = greedy decoding (deterministic); above 0 samples with ``seed``."""
    seed: int = 0
    """Sampling seed (used only when ``temperature`` > 0)."""
    chunk_chars: int = Field(default=4000, ge=200)
    """Longest piece of chart text in one prompt, in characters; longer charts are chunked."""
    chunk_overlap: int = Field(default=200, ge=0)
    """Characters shared by consecutive chunks (at most half of ``chunk_chars``)."""
    prompt: str = "findings_v1"
    """Prompt template under ``extractors/llm/prompts/`` (its version is recorded on every extraction);
    ``findings_pages_v1`` sends page images instead of text (vllm and openai_server only)."""
    pages_per_prompt: int = Field(default=4, ge=1)
    """Page images in one prompt (page-image prompts); a longer chart takes several prompts."""
    page_image_max_side: int = Field(default=1280, ge=224)
    """Longest side of a page image sent to the model, in pixels (bounds the image tokens per page)."""
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    """Weights and activations dtype."""
    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:<n>``."""
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    """Confidence of a finding whose evidence quote was found in the chart (the model reports none)."""
    unsupported_confidence: float = Field(default=0.3, ge=0.0, le=1.0)
    """Confidence of a finding whose evidence quote could not be found in the chart."""
    evidence_threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=100.0)
    """Minimum rapidfuzz partial ratio for a fuzzy evidence alignment."""
    train_split: None = None
    """The model is used as is; nothing is learned from training charts."""

    @model_validator(mode="after")
    def _overlap_fits(self) -> TransformersConfig:
        if self.chunk_overlap * 2 > self.chunk_chars:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be at most half of chunk_chars ({self.chunk_chars})")
        if load_template(self.prompt).input == "page_images" and not self.reads_page_images:
            raise ValueError(f"prompt {self.prompt!r} sends page images, which the {self.name} backend cannot; use vllm or openai_server")
        return self


@dataclass
class _Request:
    """One prompt: a chunk of a chart."""

    chart: int
    offset: int
    text: str
    messages: list[dict[str, Any]]
    input_ids: list[int] = field(default_factory=list)
    raw: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    truncated: bool = False
    error: str | None = None


class TransformersExtractor:
    name = "transformers"
    version = "1"
    config_model: type[TransformersConfig] = TransformersConfig
    """Validates the extractor's config (a subclass for other backends of the same prompt)."""

    def __init__(self, config: dict[str, Any]):
        self.config = self.config_model.model_validate(config)
        self.template = load_template(self.config.prompt)
        self.schema = self.template.schema
        self._model = None
        self._tokenizer = None
        self._eos: set[int] = set()
        from extractors.llm.weights import model_id

        self.model_id: str | None = model_id(self.config.model)
        self._revision: str | None = None
        self._revision_failed = False

    @property
    def model_revision(self) -> str | None:
        """Short sha256 of the weights (part of the extraction-cache key); prepares the model if needed.

        None while the model cannot be found (every extraction then records why).
        """
        if self._revision is None and not self._revision_failed:
            from extractors.llm.weights import model_path, model_revision

            try:
                self._revision = model_revision(model_path(self.config.model))
            except Exception as error:  # noqa: BLE001 - reported by extract(), never raised from here
                self._revision_failed = True
                log.debug("transformers: no model revision: %s", error)
        return self._revision

    @property
    def prompt_version(self) -> str:
        return self.template.version

    def fit(self, train_charts: Sequence[Chart]) -> None:
        """Nothing to learn."""

    # -- model ---------------------------------------------------------------------------------------

    def load(self) -> None:
        """Prepare (if needed) and load the model and tokenizer; called by the first ``extract``."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from extractors.llm.weights import model_path, model_revision

        path = model_path(self.config.model)
        device = self.config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.chat_template is None:
            raise ValueError(f"model {self.config.model!r} has no chat template")
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, self.config.dtype)).to(device).eval()
        eos = model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self._eos.add(tokenizer.eos_token_id)
        self._model, self._tokenizer, self._device = model, tokenizer, device
        self._revision = model_revision(path)
        log.info("transformers: %s (%s) on %s", self.model_id, self.model_revision, device)

    def _generate(self, batch: list[_Request]) -> None:
        """One left-padded ``generate`` call; fills raw output, token counts and latency of each request."""
        import torch

        tokenizer, model = self._tokenizer, self._model
        pad = tokenizer.pad_token_id
        width = max(len(r.input_ids) for r in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            n = len(request.input_ids)
            ids[row, width - n :] = torch.tensor(request.input_ids, dtype=torch.long)
            mask[row, width - n :] = 1
        sampling: dict[str, Any] = {"do_sample": False}
        if self.config.temperature > 0:
            torch.manual_seed(self.config.seed)
            sampling = {"do_sample": True, "temperature": self.config.temperature}
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(self._device),
                attention_mask=mask.to(self._device),
                max_new_tokens=self.config.max_new_tokens,
                pad_token_id=pad,
                eos_token_id=sorted(self._eos) or None,
                **sampling,
            )
        elapsed = time.perf_counter() - started
        new = out[:, width:].tolist()
        for request, tokens in zip(batch, new, strict=True):
            stop = next((i for i, t in enumerate(tokens) if t in self._eos), None)
            kept = tokens if stop is None else tokens[:stop]
            request.output_tokens = len(tokens) if stop is None else stop + 1
            request.truncated = stop is None and len(tokens) >= self.config.max_new_tokens
            request.raw = tokenizer.decode(kept, skip_special_tokens=True)
            request.input_tokens = len(request.input_ids)
            request.latency_s = elapsed / len(batch)  # the batch's wall time, shared: latencies sum to wall time

    def _run(self, requests: list[_Request]) -> None:
        """Generate every request in length-sorted batches; a failing batch is retried one by one."""
        pending = [r for r in requests if r.error is None]
        pending.sort(key=lambda r: len(r.input_ids))
        size = self.config.batch_size
        for first in range(0, len(pending), size):
            batch = pending[first : first + size]
            try:
                self._generate(batch)
            except Exception as error:  # noqa: BLE001 - one bad batch must not lose the others
                if len(batch) == 1:
                    batch[0].error = f"generation failed: {type(error).__name__}: {error}"
                    continue
                log.warning("transformers: batch failed (%s); retrying its %d prompts one by one", error, len(batch))
                for request in batch:
                    try:
                        self._generate([request])
                    except Exception as single:  # noqa: BLE001
                        request.error = f"generation failed: {type(single).__name__}: {single}"

    # -- extraction ----------------------------------------------------------------------------------

    def _requests(self, index: int, chart: Chart) -> list[_Request]:
        if self.template.input == "page_images":
            return self._page_requests(index, chart)
        chunks = chunk_text(chart.text, self.config.chunk_chars, self.config.chunk_overlap)
        requests = []
        for part, (offset, text) in enumerate(chunks, start=1):
            messages = render_messages(self.template, text, part=part, parts=len(chunks))
            requests.append(_Request(chart=index, offset=offset, text=text, messages=messages))
        return requests

    def _page_requests(self, index: int, chart: Chart) -> list[_Request]:
        """One prompt per ``pages_per_prompt`` page images; evidence aligns to the text of those pages."""
        missing = [page.index for page in chart.pages if not page.image_path]
        if missing:
            raise ValueError(f"no image for page(s) {missing}: page-image prompts need rendered pages "
                             "(a degradation such as rendered or fax_light) or charts delivered as images")
        size = self.config.pages_per_prompt
        groups = [chart.pages[first : first + size] for first in range(0, len(chart.pages), size)]
        requests = []
        for part, pages in enumerate(groups, start=1):
            images = [self._image_part(page_image(page.image_path, self.config.page_image_max_side)) for page in pages]
            start, last = pages[0].offset, pages[-1]
            text = chart.text[start : last.offset + len(last.text or "")]
            messages = render_page_messages(self.template, images, part=part, parts=len(groups))
            requests.append(_Request(chart=index, offset=start, text=text, messages=messages))
        return requests

    def _image_part(self, image) -> dict[str, Any]:
        """A chat content part holding one page image (backend-specific)."""
        raise NotImplementedError(f"{self.name} serves text prompts only")

    def _tokenize(self, request: _Request) -> None:
        prompt = self._tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        request.input_ids = self._tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def _extraction(self, chart: Chart, requests: list[_Request], error: str | None = None) -> Extraction:
        per_chunk: list[list[Finding]] = []
        errors: list[str] = [error] if error else []
        valid = error is None and bool(requests)
        for request in requests:
            if request.error:
                errors.append(request.error)
                valid = False
                continue
            parsed = parse_findings(request.raw, self.schema, truncated=request.truncated)
            valid = valid and parsed.schema_valid
            if parsed.error:
                errors.append(TRUNCATED if request.truncated else parsed.error)
            elif request.truncated:  # valid JSON that still ran into the limit
                errors.append(TRUNCATED)
            findings = attach_evidence(parsed.findings, request.text, request.offset, chart, self.config.evidence_threshold)
            for finding in findings:
                supported = finding.attributes.get("evidence_supported")
                finding.confidence = self.config.confidence if supported else self.config.unsupported_confidence
                if len(requests) > 1:
                    finding.attributes["chunk_offset"] = request.offset
            per_chunk.append(findings)
        raws = [r.raw for r in requests]
        unique_errors = list(dict.fromkeys(errors))
        return Extraction(
            chart_id=chart.id,
            findings=merge_findings(per_chunk),
            extractor=self.name,
            model_id=self.model_id,
            model_revision=self.model_revision,
            prompt_version=self.prompt_version,
            schema_valid=valid,
            raw_output=(raws[0] if len(raws) == 1 else "\n".join(f"--- chunk {i + 1}\n{raw}" for i, raw in enumerate(raws))) if raws else None,
            input_tokens=sum(r.input_tokens for r in requests),
            output_tokens=sum(r.output_tokens for r in requests),
            latency_s=round(sum(r.latency_s for r in requests), 4),
            error="; ".join(unique_errors) if unique_errors else None,
        )

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order; failures are recorded on the chart, never raised."""
        if not charts:
            return []
        try:
            self.load()
        except Exception as error:  # noqa: BLE001 - e.g. model package missing: every chart goes to review
            log.error("transformers: cannot load model %r: %s", self.config.model, error)
            message = f"model unavailable: {type(error).__name__}: {error}"
            return [self._extraction(chart, [], error=message) for chart in charts]
        per_chart: list[list[_Request]] = []
        failed: dict[int, str] = {}
        for index, chart in enumerate(charts):
            try:
                requests = self._requests(index, chart)
                for request in requests:
                    self._tokenize(request)
            except Exception as error:  # noqa: BLE001
                failed[index] = f"prompt failed: {type(error).__name__}: {error}"
                requests = []
            per_chart.append(requests)
        self._run([r for requests in per_chart for r in requests])
        results = []
        for index, chart in enumerate(charts):
            try:
                results.append(self._extraction(chart, per_chart[index], failed.get(index)))
            except Exception as error:  # noqa: BLE001
                results.append(self._extraction(chart, [], error=f"parse failed: {type(error).__name__}: {error}"))
        return results
