"""The interface every extractor implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from harness.contracts import Chart, Extraction


class Extractor(Protocol):
    """Turns charts into findings. Stateless after ``fit``; never sees gold codes in ``extract``."""

    name: str
    """Registry name (equals the Hydra option name)."""
    version: str
    """Bumped whenever the extractor's behaviour changes; part of the audit trail."""

    def fit(self, train_charts: Sequence[Chart]) -> None:
        """Learn from labelled training charts (a no-op for extractors that learn nothing)."""

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order. A failed chart gets ``error`` set, never an exception."""
