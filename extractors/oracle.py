"""The ``oracle`` extractor: proposes each chart's gold codes with their evidence.

An upper bound and a plumbing check (metrics must read 1.0); it is not a model.
It reads gold labels, so never use it to compare designs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from extractors.base import Extractor
from harness.contracts import Chart, Extraction, Finding
from harness.registry import EXTRACTORS


class OracleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["oracle"] = "oracle"
    """Registry name."""
    train_split: None = None
    """The oracle learns nothing."""
    confidence: float = 1.0
    """Confidence given to every proposed code."""


@EXTRACTORS.register("oracle")
class OracleExtractor(Extractor):
    """Each chart's gold codes as findings, at the configured confidence."""

    name = "oracle"
    config_model = OracleConfig
    config: OracleConfig
    version = "1"

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
