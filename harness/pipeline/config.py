"""How a job's stages are scheduled (the ``pipeline`` Hydra group, ``conf/pipeline/<policy>.yaml``).

``queue_size`` and ``batch_size`` may be ``auto``: sized for the extractor's engine, from what it reports
(``ReportsEngine.run_params``: ``max_num_seqs`` sequences at once on each of ``data_parallel_size`` engines), so that the
engine is offered as many charts as it can run (vLLM takes 1,024 sequences at once on an H100 or H200, 256 on CPU). An
extractor that reports no such figure gets the fixed defaults (``QUEUE_SIZE``, ``BATCH_SIZE``), and ``auto`` is never
below them. Above them it grows only as far as a memory bound allows: the charts that fit in ``MEMORY_SHARE`` of the
memory available when it is resolved, at ``CHART_BYTES`` each (1,600 charts on a node with 100 GiB available).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from extractors.base import Extractor

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
"""``queue_size: auto`` for an extractor that reports no engine concurrency."""
BATCH_SIZE = 32
"""``batch_size: auto`` for an extractor that reports no engine concurrency."""
CHART_BYTES = 16 << 20
"""Memory one admitted chart may hold, for the ``auto`` bound: its text, the map of its OCR text back to the source
(a list of ints, about 36 bytes per character), its prompts and extraction; a chart of a few hundred KB. (Page images
stay on disk, in the run's scratch folder.)"""
MEMORY_SHARE = 0.25
"""Share of the memory available at the start of a run that ``auto`` lets admitted charts take."""


def engine_concurrency(extractor: Extractor) -> int | None:
    """Sequences the extractor's engine runs at once: the ``max_num_seqs`` it reports times its ``data_parallel_size``
    (1 when not reported); None when it reports no engine, or no number for ``max_num_seqs`` (``vllm default`` until
    the engine has resolved it)."""
    from extractors.base import ReportsEngine

    if not isinstance(extractor, ReportsEngine):
        return None
    report = extractor.run_params()

    def number(key: str) -> int | None:
        value = str(report.get(key, "")).strip()
        return int(value) if value.isdigit() and int(value) > 0 else None

    seqs = number("max_num_seqs")
    return seqs * (number("data_parallel_size") or 1) if seqs else None


def memory_bound() -> int:
    """Most charts ``auto`` grows to above its fixed default: ``MEMORY_SHARE`` of the memory available now, at
    ``CHART_BYTES`` a chart."""
    import psutil

    return int(psutil.virtual_memory().available * MEMORY_SHARE) // CHART_BYTES


class PipelineConfig(BaseModel):
    """How the stages are scheduled (``conf/pipeline/<policy>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "streaming"
    """Hydra option name."""
    policy: Literal["streaming", "stop_and_go"] = "streaming"
    """``streaming``: intake, extraction and coding overlap; ``stop_and_go``: each batch goes through one stage at a time."""
    queue_size: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    """Most charts admitted and not yet coded (streaming): bounds memory, and the most charts in one extractor call.
    ``auto``: the engine's concurrency plus ``intake_threads`` (charts read while the engine is full) up to the memory
    bound (``memory_bound``), never below ``QUEUE_SIZE`` (256); resolved again once the engine has started."""
    intake_threads: int = Field(default=2, ge=1)
    """Charts degraded and read at once (streaming); each also runs ``intake.workers`` tesseract processes."""
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    """Charts per batch of the ``stop_and_go`` policy. ``auto``: the engine's concurrency up to the memory bound
    (``memory_bound``), never below ``BATCH_SIZE`` (32); resolved again once the engine has started."""
    chart_timeout_s: float | None = Field(default=600.0, gt=0)
    """Seconds one chart may take (intake, its extraction, coding, edits, routing); a chart over it is still coded but
    routed to review (``chart_timeout``). The extraction counts its own latency when the extractor records one, also
    when the cache serves it, so a rules-only re-run routes the chart alike. None: no budget."""

    @field_validator("queue_size", "batch_size", mode="before")
    @classmethod
    def _charts_or_auto(cls, value: object) -> object:
        """One message for a value that is neither (not one per member of the union)."""
        if value == "auto" or (isinstance(value, int | str) and not isinstance(value, bool) and str(value).isdigit()
                               and int(value) >= 1):
            return value
        raise ValueError(f"expected a number of charts (1 or more) or auto, got {value!r}")

    def resolved_queue_size(self, extractor: Extractor) -> int:
        """``queue_size`` as a number of charts for ``extractor`` (``auto`` resolved: see the field)."""
        if self.queue_size != "auto":
            return self.queue_size
        size = _sized(QUEUE_SIZE, engine_concurrency(extractor), self.intake_threads)
        log.info("pipeline.queue_size auto: %d charts", size)
        return size

    def resolved_batch_size(self, extractor: Extractor) -> int:
        """``batch_size`` as a number of charts for ``extractor`` (``auto`` resolved: see the field)."""
        if self.batch_size != "auto":
            return self.batch_size
        return _sized(BATCH_SIZE, engine_concurrency(extractor), 0)


def _sized(default: int, concurrency: int | None, ahead: int) -> int:
    """``auto``: ``default`` for an engine of unknown size; else its ``concurrency`` plus ``ahead`` charts, up to the
    memory bound and never below ``default``."""
    if not concurrency:
        return default
    return max(default, min(concurrency + ahead, memory_bound()))
