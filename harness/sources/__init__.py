"""Chart sources: every dataset becomes a list of ``Chart``; user chart files also report the lines they skipped."""

from __future__ import annotations

from harness.config import DatasetConfig
from harness.contracts import Chart, digest
from harness.errors import DataError
from harness.registry import DATASETS
from harness.sources.loaded import LoadedCharts, Purpose, SkippedLine
from harness.sources.shards import select_shard, shard_charts, shard_of

__all__ = ["DataError", "LoadedCharts", "Purpose", "SkippedLine", "dataset_digest", "load_charts", "load_split", "shard_charts",
           "shard_of"]


def load_split(config: DatasetConfig, purpose: Purpose = "evaluate") -> LoadedCharts:
    """The charts of ``config.split`` sorted by id, and the lines skipped reading them.

    ``evaluate``: cut to ``config.limit``, then to shard ``config.shard`` of ``config.num_shards``
    (``harness.sources.shards``); a split or shard without charts is a ``DataError``. ``learn``: every chart of the
    split (user files leave out charts without ``meta.split``), possibly none, never sharded.
    """
    loaded = DATASETS.resolve(config.name)(config, purpose)
    charts = sorted(loaded.charts, key=lambda c: c.id)
    if purpose == "evaluate":
        if not charts:
            raise DataError(f"dataset {config.name!r} split {config.split!r} has no charts")
        charts = charts[: config.limit] if config.limit else charts
        charts = select_shard(charts, config)
    return LoadedCharts(charts=charts, skipped=loaded.skipped)


def load_charts(config: DatasetConfig, purpose: Purpose = "evaluate") -> list[Chart]:
    """The charts of ``load_split`` without the skipped lines (for callers that only read charts)."""
    return load_split(config, purpose).charts


def dataset_digest(charts: list[Chart]) -> str:
    """Digest of exactly what was evaluated: chart contents and gold codes."""
    return digest([[c.id, c.content_hash(), [g.model_dump(mode="json") for g in c.gold]] for c in charts])
