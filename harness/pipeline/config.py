"""How a job's stages are scheduled (the ``pipeline`` Hydra group, ``conf/pipeline/<policy>.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PipelineConfig(BaseModel):
    """How the stages are scheduled (``conf/pipeline/<policy>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "streaming"
    """Hydra option name."""
    policy: Literal["streaming", "stop_and_go"] = "streaming"
    """``streaming``: intake, extraction and coding overlap; ``stop_and_go``: each batch goes through one stage at a time."""
    queue_size: int = Field(default=256, ge=1)
    """Most charts admitted and not yet coded (streaming): bounds memory, and the most charts in one extractor call."""
    intake_threads: int = Field(default=2, ge=1)
    """Charts degraded and read at once (streaming); each also runs ``intake.workers`` tesseract processes."""
    batch_size: int = Field(default=32, ge=1)
    """Charts per batch of the ``stop_and_go`` policy."""
    chart_timeout_s: float | None = Field(default=600.0, gt=0)
    """Seconds one chart may take (intake, its extraction, coding, edits, routing); a chart over it is still coded but
    routed to review (``chart_timeout``). The extraction counts its own latency when the extractor records one, also
    when the cache serves it, so a rules-only re-run routes the chart alike. None: no budget."""
