"""Shards of a dataset: ``dataset.num_shards=N dataset.shard=i`` evaluates one of N disjoint parts of the charts.

A chart's shard is its id's sha256, as a number, modulo N: a function of the id alone. So the shards of a split are
disjoint and together are the split, every job of a sharded sweep (a SLURM job array) agrees on them without talking
to the others, and a chart stays in its shard when charts are added or removed. Sharding cuts the charts a run
evaluates after ``dataset.limit`` (``limit=40 num_shards=4`` shards the 40 charts an unsharded ``limit=40`` run reads),
keeps their order (by id), and never touches the charts an extractor or a calibrator learns from. Shards are only
roughly equal in size. ``harness merge <parent run>`` (``harness.merge``) puts the shards' results together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from harness.config import DatasetConfig
from harness.contracts import Chart
from harness.errors import DataError


def shard_of(chart_id: str, num_shards: int) -> int:
    """The shard (0 to ``num_shards - 1``) chart ``chart_id`` belongs to."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    return int(hashlib.sha256(chart_id.encode("utf-8")).hexdigest(), 16) % num_shards


def shard_charts(charts: Sequence[Chart], num_shards: int, shard: int) -> list[Chart]:
    """The charts of shard ``shard`` of ``num_shards``, in their order in ``charts`` (possibly none)."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is not one of 0 to {num_shards - 1}")
    if num_shards == 1:
        return list(charts)
    return [chart for chart in charts if shard_of(chart.id, num_shards) == shard]


def select_shard(charts: Sequence[Chart], config: DatasetConfig) -> list[Chart]:
    """The charts of ``config.shard`` of ``config.num_shards``; a shard without charts is a ``DataError`` (a run needs
    at least one chart), which names the fix."""
    chosen = shard_charts(charts, config.num_shards, config.shard)
    if not chosen:
        raise DataError(f"dataset {config.name!r} split {config.split!r}: dataset.shard={config.shard} of "
                        f"dataset.num_shards={config.num_shards} holds none of the {len(charts)} charts (shards are drawn by "
                        "chart id, so some stay empty when there are few charts per shard): use fewer shards")
    return chosen
