"""Chart sources: every dataset becomes a list of ``Chart`` through Hugging Face ``datasets``."""

from __future__ import annotations

from harness.config import DatasetConfig
from harness.contracts import Chart, digest
from harness.errors import DataError
from harness.registry import DATASETS

__all__ = ["DataError", "dataset_digest", "load_charts"]


def load_charts(config: DatasetConfig) -> list[Chart]:
    """The charts of ``config.split``, sorted by id and cut to ``config.limit``."""
    charts = sorted(DATASETS.resolve(config.name)(config), key=lambda c: c.id)
    if not charts:
        raise DataError(f"dataset {config.name!r} split {config.split!r} has no charts")
    return charts[: config.limit] if config.limit else charts


def dataset_digest(charts: list[Chart]) -> str:
    """Digest of exactly what was evaluated: chart contents and gold codes."""
    return digest([[c.id, c.content_hash(), [g.model_dump(mode="json") for g in c.gold]] for c in charts])
