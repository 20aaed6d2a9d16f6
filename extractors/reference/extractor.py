"""The ``reference`` extractor: CodiEsp coding from a fitted, versioned reference artifact.

Nothing is learned here: ``harness fit`` fits the model
(``extractors.reference.model``) and saves it (``extractors.reference.artifact``); this extractor
loads it on first use (the pipeline's ``fit`` call, before any chart is extracted), so a missing or
mismatched artifact stops the run with an error naming what differs. ``fit`` only checks that the
pipeline's training charts are the ones the artifact was fitted on.

Charts are scored in batches (``ReferenceModel.predict_many``: one call of each scikit-learn model for the
whole batch, the same results as chart by chart) with the libraries' thread pools capped at ``threads``;
when a batch fails, its charts are scored one by one, so only a chart that fails alone gets ``error`` set.

One finding per candidate code, with ``confidence`` = the re-ranker's calibrated probability
and the assertion of its best mention (every assertion is reported: CodiEsp codes negated and
uncertain mentions, the rule pack decides). Evidence is explicit in ``attributes["evidence"]``:
``mention`` (spans of the lexicon or retrieval hits, the best first), ``sentence`` (a code only
the chart classifier supports: its strongest sentence) or ``none`` (no span supports it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from extractors.base import Extractor, LearnsFromCharts, extract_each
from extractors.reference.artifact import CODES, Artifact, check_training_data, load_artifact
from extractors.reference.candidates import Candidate
from extractors.reference.model import ReferenceModel, model_threads
from harness.contracts import DEFAULT_CODE_SET_YEAR, Chart, Extraction, Finding, Span
from harness.registry import EXTRACTORS

log = logging.getLogger(__name__)


class ReferenceConfig(BaseModel):
    """Settings of the reference extractor (``conf/extractor/reference.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["reference"] = "reference"
    """Registry name of the extractor."""
    artifact: str
    """Artifact name under ``<cache>/reference/`` or a folder path (written by ``extractors.reference.fit``)."""
    codes: Literal["D", "P"] = "D"
    """CodiEsp sub-track the artifact must code: ``D`` diagnoses (ICD-10-CM) or ``P`` procedures (ICD-10-PCS)."""
    language: str | None = None
    """Chart language the artifact must be fitted for; None accepts the artifact's (charts must still match it)."""
    code_set_year: int = DEFAULT_CODE_SET_YEAR
    """Code-set year the artifact must declare."""
    train_split: str | None = "train"
    """Split whose charts the pipeline passes to ``fit``, checked against the artifact's training digest; None: no check."""
    threads: int | None = Field(default=1, ge=1, exclude=True)
    """Most OpenMP/BLAS threads of the model's scikit-learn calls (``threadpoolctl``); None: the libraries' default,
    one per core.

    1 by default: scoring is mostly Python (tokens, lexicon, features), and a batch's calls into scikit-learn are
    short parallel regions (the re-ranker alone runs thousands of tree predictions), so more threads gain little even
    on an idle machine, while beside other busy processes (the jobs of a sweep) every region waits for threads the OS
    has descheduled: chart by chart with the default pools this was 83x slower under load. Give a job alone on a
    machine more only if ``harness bench reference`` shows a gain there. Results are the same whatever the value (each
    row is computed by one thread), so the field is excluded from the config's dump and from the extraction-cache
    key (``harness.pipeline.extraction_cache.extractor_fingerprint``)."""


@EXTRACTORS.register("reference")
class ReferenceExtractor(LearnsFromCharts, Extractor):
    """Candidate generation (lexicon, retrieval, classifier) and a learned re-ranker, loaded from an artifact.

    ``fit`` takes the training charts only to check they are the artifact's. ``model_id`` stays None: the artifact's
    digest (``model_revision``) identifies the model, and extractions name the artifact."""

    name = "reference"
    config_model = ReferenceConfig
    config: ReferenceConfig
    version = "1"
    calibrated = True
    """Confidences are the re-ranker's isotonic-calibrated probabilities, fitted by ``extractors.reference.fit``."""
    runs_untrained = False
    """Without labelled training charts there is nothing to check the artifact against."""

    def __init__(self, config: dict):
        super().__init__(config)
        self._artifact: Artifact | None = None
        self._warned = False

    @property
    def artifact(self) -> Artifact:
        """The checked artifact, loaded on first use (``fit``, ``extract`` or ``model_revision``)."""
        if self._artifact is None:
            cfg = self.config
            self._artifact = load_artifact(cfg.artifact, code_set_year=cfg.code_set_year, language=cfg.language,
                                           code_system=CODES[cfg.codes])
        return self._artifact

    @property
    def model_revision(self) -> str:
        """The artifact's model digest, so cached extractions follow the artifact."""
        return self.artifact.manifest["model_sha256"][:16]

    def fit(self, train_charts: Sequence[Chart]) -> None:
        """Check that ``train_charts`` are the artifact's training data (nothing is refitted)."""
        check_training_data(self.artifact, train_charts)

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order; a chart that fails gets ``error`` set."""
        model = self.artifact.model  # a missing or mismatched artifact fails the run, not each chart
        learned = set(self.artifact.manifest["training"]["splits"]) & {c.meta.get("split") for c in charts}
        if learned and not self._warned:
            self._warned = True  # once per run, not once per batch
            log.warning("the reference artifact was fitted on split(s) %s, which are being extracted: scores will be optimistic",
                        ", ".join(sorted(learned)))
        fields = {"model_id": str(self.artifact.path.name), "model_revision": self.model_revision}
        with model_threads(self.config.threads):
            started = time.perf_counter()
            try:
                findings = self._findings_many(model, charts)
            except Exception as exc:  # one bad chart must not fail its batch: score them one by one, isolating it
                log.warning("reference extraction of a batch of %d charts failed (%s: %s); scoring them one by one",
                            len(charts), type(exc).__name__, exc)
                return extract_each(self.name, charts, lambda chart: self._findings_many(model, [chart])[0], **fields)
            share = (time.perf_counter() - started) / max(len(charts), 1)  # one batch: latencies sum to its wall time
        return [Extraction(chart_id=chart.id, findings=found, extractor=self.name, latency_s=share, **fields)
                for chart, found in zip(charts, findings, strict=True)]

    @classmethod
    def _findings_many(cls, model: ReferenceModel, charts: Sequence[Chart]) -> list[list[Finding]]:
        """The findings of each chart, its candidate codes scored together (``ReferenceModel.predict_many``)."""
        for chart in charts:
            if chart.language != model.language:
                raise ValueError(f"chart language {chart.language!r}, artifact fitted for {model.language!r}")
        return [cls._findings(model, chart, candidates) for chart, candidates in zip(charts, model.predict_many(charts))]

    @staticmethod
    def _findings(model: ReferenceModel, chart: Chart, candidates: list[Candidate]) -> list[Finding]:
        """The scored candidate codes of one chart as findings, most probable first."""
        out = []
        for cand in candidates:
            spans = [Span(start=s, end=e, text=chart.text[s:e], page=chart.page_of(s)) for s, e in cand.mentions]
            f = cand.features
            out.append(Finding(
                text=spans[0].text if spans else cand.code,
                kind="procedure" if model.system == "icd10pcs" else "diagnosis",
                code=cand.code,
                system=model.system,
                assertion=cand.assertion,
                spans=spans,
                attributes={
                    "evidence": cand.evidence_kind,
                    "lexicon_precision": round(f["lex_precision"], 4),
                    "retrieval_similarity": round(f["ret_similarity"], 4),
                    "classifier_probability": round(f["clf_probability"], 4),
                },
                confidence=cand.score,
            ))
        return out
