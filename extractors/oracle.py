"""The ``oracle`` extractor: proposes each chart's gold codes with their evidence.

An upper bound and a plumbing check (metrics must read 1.0); it is not a model.
It reads gold labels, so never use it to compare designs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.contracts import Chart, Extraction, Finding


class OracleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["oracle"] = "oracle"
    """Registry name."""
    train_split: None = None
    """The oracle learns nothing."""
    confidence: float = 1.0
    """Confidence given to every proposed code."""


class OracleExtractor:
    name = "oracle"
    version = "1"
    calibrated = False
    learns_from_charts = False
    runs_untrained = True
    model_id: str | None = None
    model_revision: str | None = None
    prompt_version: str | None = None

    def __init__(self, config: dict):
        self.config = OracleConfig.model_validate(config)

    def fit(self, train_charts: Sequence[Chart]) -> None:
        """Nothing to learn."""

    def close(self) -> None:
        """Nothing runs beside this process."""

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        return [
            Extraction(
                chart_id=chart.id,
                extractor=self.name,
                findings=[
                    Finding(
                        text=gold.code,
                        code=gold.code,
                        system=gold.system,
                        spans=gold.evidence,
                        confidence=self.config.confidence,
                        attributes={"source": "gold"},
                    )
                    for gold in chart.gold
                ],
            )
            for chart in charts
        ]
