"""The ``reference`` extractor: CodiEsp coding from a fitted, versioned reference artifact.

Nothing is learned here: ``harness fit`` fits the model
(``extractors.reference.model``) and saves it (``extractors.reference.artifact``); this extractor
loads it on first use (the pipeline's ``fit`` call, before any chart is extracted), so a missing or
mismatched artifact stops the run with an error naming what differs. ``fit`` only checks that the
pipeline's training charts are the ones the artifact was fitted on.

One finding per candidate code, with ``confidence`` = the re-ranker's calibrated probability
and the assertion of its best mention (every assertion is reported: CodiEsp codes negated and
uncertain mentions, the rule pack decides). Evidence is explicit in ``attributes["evidence"]``:
``mention`` (spans of the lexicon or retrieval hits, the best first), ``sentence`` (a code only
the chart classifier supports: its strongest sentence) or ``none`` (no span supports it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from extractors.base import extract_each
from extractors.reference.artifact import CODES, Artifact, check_training_data, load_artifact
from extractors.reference.model import ReferenceModel
from harness.contracts import DEFAULT_CODE_SET_YEAR, Chart, Extraction, Finding, Span

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


class ReferenceExtractor:
    """Candidate generation (lexicon, retrieval, classifier) and a learned re-ranker, loaded from an artifact."""

    name = "reference"
    version = "1"
    calibrated = True
    """Confidences are the re-ranker's isotonic-calibrated probabilities, fitted by ``extractors.reference.fit``."""
    learns_from_charts = True
    """``fit`` checks the training charts are the artifact's (nothing is refitted)."""
    runs_untrained = False
    model_id: str | None = None
    """None: ``model_revision`` (the artifact's digest) identifies the model; extractions name the artifact."""
    prompt_version: str | None = None

    def __init__(self, config: dict):
        self.config = ReferenceConfig.model_validate(config)
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

    def close(self) -> None:
        """Nothing runs beside this process."""

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order; a chart that fails gets ``error`` set."""
        model = self.artifact.model  # a missing or mismatched artifact fails the run, not each chart
        learned = set(self.artifact.manifest["training"]["splits"]) & {c.meta.get("split") for c in charts}
        if learned and not self._warned:
            self._warned = True  # once per run, not once per batch
            log.warning("the reference artifact was fitted on split(s) %s, which are being extracted: scores will be optimistic",
                        ", ".join(sorted(learned)))
        return extract_each(self.name, charts, lambda chart: self._findings(model, chart),
                            model_id=str(self.artifact.path.name), model_revision=self.model_revision)

    @staticmethod
    def _findings(model: ReferenceModel, chart: Chart) -> list[Finding]:
        """The scored candidate codes of one chart as findings, most probable first."""
        if chart.language != model.language:
            raise ValueError(f"chart language {chart.language!r}, artifact fitted for {model.language!r}")
        out = []
        for cand in model.predict(chart):
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
