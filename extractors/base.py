"""The interface every extractor implements, and the optional capabilities an extractor declares by subclassing.

``Extractor`` gives every declared attribute its default and makes ``fit`` and ``close`` no-ops, so an extractor states
only ``name``, ``version``, ``config``, ``extract`` and what differs. What only some extractors can do is a capability
interface, declared in the class's bases and tested with ``isinstance``:

- ``StreamingExtractor``: takes charts while it works (``submit``/``collect``); the streaming pipeline feeds it each
  chart as soon as intake has it ready;
- ``ReportsEngine``: says what engine ran (``run_params``), recorded as the run's ``engine.*`` params;
- ``LearnsFromCharts``: ``fit`` learns from the training split's charts, which the run then loads.

An extractor that delegates to another (``extractors.wrapping.WrappingExtractor``) has a capability also when the one
it wraps has it and it passes it on (``Extractor.delegates``).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, ABCMeta, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from harness.contracts import Chart, Extraction, Finding

log = logging.getLogger(__name__)


class Extractor(ABC):
    """Turns charts into findings. Stateless after ``fit``; never sees gold codes in ``extract``."""

    name: str
    """Registry name (equals the Hydra option name)."""
    version: str
    """Bumped whenever the extractor's behaviour changes; part of the audit trail."""
    config_model: ClassVar[type[BaseModel]]
    """The model of its ``conf/extractor/<name>.yaml`` settings (its defaults are the option's defaults under Hydra)."""
    config: BaseModel
    """The validated config (part of the extraction-cache key)."""
    calibrated: bool = False
    """Whether confidences are calibrated probabilities already (a run then refuses to calibrate them again)."""
    runs_untrained: bool = True
    """Whether it can extract when there are no labelled training charts (else the run stops and names the fix)."""
    model_id: str | None = None
    """The model behind the findings (None where there is none, or where ``model_revision`` alone names it)."""
    model_revision: str | None = None
    """Digest of the weights or of what ``fit`` learned (None where there is none); part of the extraction-cache key."""
    prompt_version: str | None = None
    """Version of the prompt template (None for extractors without a prompt)."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = self.config_model.model_validate(config)

    def fit(self, train_charts: Sequence[Chart]) -> None:  # noqa: B027 - a no-op unless the extractor learns
        """Learn from labelled training charts (none: run untrained); learns nothing unless ``LearnsFromCharts``."""

    @abstractmethod
    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order. A failed chart gets ``error`` set, never an exception."""

    def close(self) -> None:  # noqa: B027 - nothing to release unless the extractor starts something
        """Release what ``extract`` started (a model engine, a local server); the job calls it when it is done.

        Explicit because an engine's worker processes must stop before the interpreter exits, and a garbage
        collector that runs late (an import can keep a frame holding the extractor alive) would leave them hanging."""

    def cache_identity(self) -> dict[str, Any]:
        """What decides the output apart from the chart (``extraction_cache.extractor_fingerprint`` hashes it).

        Read it after ``fit``: fitting may set ``model_revision``."""
        return {"name": self.name, "version": self.version, "config": self.config.model_dump(mode="json"),
                "model_id": self.model_id, "model_revision": self.model_revision, "prompt_version": self.prompt_version}

    def delegates(self, capability: type) -> bool:
        """Whether it has ``capability`` through an extractor it passes the work on to (a wrapper's); none here."""
        return False


class _Capability(ABCMeta):
    """Metaclass of the capability interfaces: an extractor has one when its class declares it, or when it delegates
    it (``Extractor.delegates``), so a wrapper has exactly the capabilities it passes on."""

    def __instancecheck__(cls, instance: object) -> bool:
        if super().__instancecheck__(instance):
            return True
        return cls in CAPABILITIES and isinstance(instance, Extractor) and instance.delegates(cls)


class StreamingExtractor(metaclass=_Capability):
    """Takes charts while it works (continuous batching): the streaming pipeline submits each chart as soon as intake
    has made it ready and collects extractions as they finish, instead of calling ``extract`` per group of charts."""

    @abstractmethod
    def submit(self, charts: Sequence[Chart]) -> None:
        """Start extracting ``charts`` now; a chart that cannot start comes back from ``collect`` with ``error`` set."""

    @abstractmethod
    def collect(self, wait_s: float) -> list[Extraction]:
        """Extractions of submitted charts finished since the last call, waiting up to ``wait_s`` for the first."""


class ReportsEngine(metaclass=_Capability):
    """Runs on an engine worth recording (device, engine version, resolved settings)."""

    @abstractmethod
    def run_params(self) -> Mapping[str, object]:
        """What the run record should say about the engine; recorded as ``engine.<key>`` params."""


class LearnsFromCharts(metaclass=_Capability):
    """``fit`` uses the training split's charts: the run loads them (and checks they are not evaluated) and passes them."""

    @abstractmethod
    def fit(self, train_charts: Sequence[Chart]) -> None:
        """Learn from ``train_charts`` (those without gold codes teach nothing)."""


CAPABILITIES: tuple[type, ...] = (StreamingExtractor, ReportsEngine, LearnsFromCharts)
"""The optional interfaces an extractor may have: declared in its bases, or delegated by a wrapper."""


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
