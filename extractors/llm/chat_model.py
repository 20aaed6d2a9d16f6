"""What every model-served extractor shares: config, prompts, batching, parsing, evidence and accounting.

A backend (``transformers``, ``vllm``, ``openai_server``) subclasses ``ChatModelExtractor`` and only loads
its model (``load``) and fills in the output of a list of requests (``_generate``); everything else is here:

- Charts longer than ``chunk_chars`` are split with overlap; every chunk is one prompt (``ChatRequest``);
  a chart's findings are merged across its chunks. Page-image prompts send ``pages_per_prompt`` pages each.
- Generation is measured, not assumed: the output is parsed and validated against the prompt's schema
  (``extractors.llm.prompting``), so ``schema_valid`` says what the model really produced; evidence quotes
  are aligned to the chart (``extractors.llm.evidence``).
- Every chart gets exactly one ``Extraction`` with tokens, latency, raw output, ``schema_valid``,
  ``error`` (``"truncated: max_new_tokens reached"`` when generation hit the limit without end of
  sequence), ``model_id``, ``model_revision`` (short sha256 of the weights) and ``prompt_version``.
  A chart that fails is returned with ``error`` set; ``extract`` never raises for one bad chart.
- A model that cannot be loaded (a missing package, a start that runs out of memory after loading the weights) is
  tried once per job: that chart group and every later one go to review with the same ``model unavailable: ...``
  reason, and the job runs to its end (a start is never retried for each group of arriving charts).

Model packages (torch, transformers, vllm, openai) are imported on first use by the backends, so building
an extractor (config check) is instant.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from extractors.base import Extractor
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


class ChatModelConfig(BaseModel):
    """Prompt and decoding settings shared by every model backend (``conf/extractor/<backend>.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    reads_page_images: ClassVar[bool] = False
    """Whether the backend can send page images (the VLM path)."""

    name: str
    """Registry name of the extractor."""
    model: str = "smollm2"
    """A model ``extractors.llm.weights`` prepares (``smollm2``) or a local Hugging Face folder path."""
    max_new_tokens: int = Field(default=512, ge=1)
    """Generation limit per prompt; output cut at the limit is recorded as truncated."""
    batch_size: int = Field(default=4, ge=1)
    """Prompts per ``generate`` call of the transformers backend (left-padded batch); the others schedule all at once."""
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
    """Weights and activations dtype (transformers and vllm)."""
    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:<n>`` (transformers)."""
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    """Confidence of a finding whose evidence quote was found in the chart (the model reports none)."""
    unsupported_confidence: float = Field(default=0.3, ge=0.0, le=1.0)
    """Confidence of a finding whose evidence quote could not be found in the chart."""
    evidence_threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=100.0)
    """Minimum rapidfuzz partial ratio for a fuzzy evidence alignment."""
    train_split: None = None
    """The model is used as is; nothing is learned from training charts."""

    @model_validator(mode="after")
    def _overlap_fits(self) -> ChatModelConfig:
        if self.chunk_overlap * 2 > self.chunk_chars:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be at most half of chunk_chars ({self.chunk_chars})")
        if load_template(self.prompt).input == "page_images" and not self.reads_page_images:
            raise ValueError(f"prompt {self.prompt!r} sends page images, which the {self.name} backend cannot; "
                             "use vllm or openai_server")
        return self


@dataclass
class ChatRequest:
    """One prompt (a chunk of a chart, or a group of its pages) and what generating it gave."""

    chart: int
    """Index of the chart in the ``extract`` call."""
    offset: int
    """Where ``text`` starts in the chart text."""
    text: str
    """The chart text the prompt covers (evidence quotes are aligned to it)."""
    messages: list[dict[str, Any]]
    """The chat messages sent to the model."""
    input_ids: list[int] = field(default_factory=list)
    """Prompt tokens, where the backend tokenizes itself (transformers)."""
    raw: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    truncated: bool = False
    """Generation stopped at ``max_new_tokens``."""
    error: str | None = None


class ChatModelExtractor(Extractor):
    """A chat model asked for findings as JSON; a backend subclass loads the model and generates.

    The model is used as is (``fit`` learns nothing); confidences are fixed by evidence support
    (``confidence``/``unsupported_confidence``), not calibrated."""

    config_model: ClassVar[type[ChatModelConfig]]
    config: ChatModelConfig
    retries_singly: ClassVar[bool] = False
    """Whether the prompts of a failed ``_generate`` call are retried one by one (else they all fail)."""

    def __init__(self, config: dict[str, Any]):
        from extractors.llm.weights import model_id

        super().__init__(config)
        self.template = load_template(self.config.prompt)
        self.schema = self.template.schema
        self.log = logging.getLogger(type(self).__module__)
        self._model: Any = None
        """The loaded model, engine or client; None until ``load``."""
        self.model_id: str | None = model_id(self.config.model)
        self._revision: str | None = None
        self._revision_failed = False
        self._unavailable: str | None = None
        """Why the model cannot be used (a failed load, an engine that failed past its restart); None while it can."""

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
                self.log.debug("%s: no model revision: %s", self.name, error)
        return self._revision

    @property
    def prompt_version(self) -> str:
        return self.template.version

    def close(self) -> None:
        """Release the model (a later ``extract`` loads it again); a shared engine may stay loaded for the next job."""
        if self._model is not None:
            self._unload()
            self._model = None
        self._unavailable = None

    def _unusable(self) -> str | None:
        """Load the model unless loaded or already failed: None when it is ready, else the reason every chart gets (the
        first failure's, so a failed start is tried once, not again for each group of charts)."""
        if self._model is None and self._unavailable is None:
            try:
                self.load()
            except Exception as error:  # noqa: BLE001 - e.g. model package missing: every chart goes to review
                self.log.error("%s: cannot load model %r: %s", self.name, self.config.model, error)
                self._unavailable = f"model unavailable: {type(error).__name__}: {error}"
        return self._unavailable if self._model is None else None

    # -- backend -------------------------------------------------------------------------------------

    @abstractmethod
    def load(self) -> None:
        """Load the model (or start or reach the server) once; called by the first ``extract``."""

    def _unload(self) -> None:  # noqa: B027 - a hook; most models are freed with their last reference
        """Stop what ``load`` started beyond this process's memory (engine workers, a server)."""

    @abstractmethod
    def _generate(self, batch: list[ChatRequest]) -> None:
        """Fill in ``raw``, token counts, ``truncated`` and ``latency_s`` (or ``error``) of every request."""

    def _tokenize(self, request: ChatRequest) -> None:  # noqa: B027 - a hook; servers and vLLM tokenize themselves
        """Prepare a request for ``_generate`` (a prompt that fails here fails its chart only); nothing by default."""

    def _batches(self, pending: list[ChatRequest]) -> list[list[ChatRequest]]:
        """The ``_generate`` calls: one with every prompt by default (the engine or server schedules them)."""
        return [pending] if pending else []

    def _image_part(self, image) -> dict[str, Any]:
        """A chat content part holding one page image (backend-specific)."""
        raise NotImplementedError(f"{self.name} serves text prompts only")

    # -- generation ----------------------------------------------------------------------------------

    def _run(self, requests: list[ChatRequest]) -> None:
        """Generate every request that has no error yet, in ``_batches``."""
        for batch in self._batches([r for r in requests if r.error is None]):
            self._generate_or_fail(batch)

    def _generate_or_fail(self, batch: list[ChatRequest]) -> None:
        try:
            self._generate(batch)
        except Exception as error:  # noqa: BLE001 - one bad batch must not lose the others
            if len(batch) > 1 and self.retries_singly:
                self.log.warning("%s: batch failed (%s); retrying its %d prompts one by one", self.name, error, len(batch))
                for request in batch:
                    self._generate_or_fail([request])
                return
            for request in batch:
                request.error = f"generation failed: {type(error).__name__}: {error}"

    # -- extraction ----------------------------------------------------------------------------------

    def _requests(self, index: int, chart: Chart) -> list[ChatRequest]:
        if self.template.input == "page_images":
            return self._page_requests(index, chart)
        chunks = chunk_text(chart.text, self.config.chunk_chars, self.config.chunk_overlap)
        requests = []
        for part, (offset, text) in enumerate(chunks, start=1):
            messages = render_messages(self.template, text, part=part, parts=len(chunks))
            requests.append(ChatRequest(chart=index, offset=offset, text=text, messages=messages))
        return requests

    def _page_requests(self, index: int, chart: Chart) -> list[ChatRequest]:
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
            requests.append(ChatRequest(chart=index, offset=start, text=text, messages=messages))
        return requests

    def _extraction(self, chart: Chart, requests: list[ChatRequest], error: str | None = None) -> Extraction:
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
        joined = "\n".join(f"--- chunk {i + 1}\n{raw}" for i, raw in enumerate(raws))
        return Extraction(
            chart_id=chart.id,
            findings=merge_findings(per_chunk),
            extractor=self.name,
            model_id=self.model_id,
            model_revision=self.model_revision,
            prompt_version=self.prompt_version,
            schema_valid=valid,
            raw_output=raws[0] if len(raws) == 1 else joined or None,
            input_tokens=sum(r.input_tokens for r in requests),
            output_tokens=sum(r.output_tokens for r in requests),
            latency_s=round(sum(r.latency_s for r in requests), 4),
            error="; ".join(unique_errors) if unique_errors else None,
        )

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order; failures are recorded on the chart, never raised."""
        if not charts:
            return []
        if (message := self._unusable()) is not None:
            return [self._extraction(chart, [], error=message) for chart in charts]
        per_chart: list[list[ChatRequest]] = []
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
        return [self._extraction_or_failure(chart, per_chart[index], failed.get(index)) for index, chart in enumerate(charts)]

    def _extraction_or_failure(self, chart: Chart, requests: list[ChatRequest], error: str | None = None) -> Extraction:
        """The chart's extraction from its generated requests; one whose parsing breaks is recorded as failed."""
        try:
            return self._extraction(chart, requests, error)
        except Exception as failure:  # noqa: BLE001
            return self._extraction(chart, [], error=f"parse failed: {type(failure).__name__}: {failure}")
