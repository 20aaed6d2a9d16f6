"""The interface every extractor implements."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from harness.contracts import Chart, Extraction, Finding

log = logging.getLogger(__name__)


class Extractor(Protocol):
    """Turns charts into findings. Stateless after ``fit``; never sees gold codes in ``extract``."""

    name: str
    """Registry name (equals the Hydra option name)."""
    version: str
    """Bumped whenever the extractor's behaviour changes; part of the audit trail."""
    calibrated: bool
    """Whether confidences are calibrated probabilities already (a run then refuses to calibrate them again)."""
    learns_from_charts: bool
    """Whether ``fit`` uses the training split's charts (the run then loads them and checks they are not evaluated)."""
    runs_untrained: bool
    """Whether it can extract when there are no labelled training charts (else the run stops and names the fix)."""
    model_id: str | None
    """The model behind the findings (None where there is none, or where ``model_revision`` alone names it)."""
    model_revision: str | None
    """Digest of the weights or of what ``fit`` learned (None where there is none); part of the extraction-cache key."""
    prompt_version: str | None
    """Version of the prompt template (None for extractors without a prompt)."""
    config: BaseModel
    """The validated config (part of the extraction-cache key)."""

    def fit(self, train_charts: Sequence[Chart]) -> None:
        """Learn from labelled training charts (none: run untrained; a no-op for extractors that learn nothing)."""

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order. A failed chart gets ``error`` set, never an exception."""

    def close(self) -> None:
        """Release what ``extract`` started (a model engine, a local server); the job calls it when it is done.

        Explicit because an engine's worker processes must stop before the interpreter exits, and a garbage
        collector that runs late (an import can keep a frame holding the extractor alive) would leave them hanging."""


def extract_each(name: str, charts: Sequence[Chart], findings_of: Callable[[Chart], list[Finding]],
                 **fields: Any) -> list[Extraction]:
    """One ``Extraction`` per chart from ``findings_of``; a chart that raises gets ``error`` set, the others go on.

    ``fields`` (model revision, ...) go on every extraction; each records its own latency.
    """
    results = []
    for chart in charts:
        started = time.perf_counter()
        try:
            findings, error = findings_of(chart), None
        except Exception as exc:  # one bad chart must not stop the run: it goes to review with the reason
            log.warning("%s extraction failed on chart %s: %s", name, chart.id, exc)
            findings, error = [], f"{type(exc).__name__}: {exc}"
        results.append(Extraction(chart_id=chart.id, findings=findings, extractor=name, error=error,
                                  latency_s=time.perf_counter() - started, **fields))
    return results
