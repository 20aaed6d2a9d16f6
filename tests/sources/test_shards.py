"""Shards of a dataset (``dataset.num_shards`` / ``dataset.shard``): a partition of the evaluated charts by chart id."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.config import DatasetConfig
from harness.errors import ConfigError, DataError
from harness.sources import load_charts, load_split, shard_charts, shard_of


def sample(**fields) -> DatasetConfig:
    return DatasetConfig(**{"name": "sample", "split": "dev", **fields})


def test_a_charts_shard_is_a_fixed_function_of_its_id() -> None:
    # Pinned: a re-submitted sweep (or a merge days later) must draw the same shards as the jobs that ran.
    assert [shard_of(chart_id, 4) for chart_id in ("a", "b", "c", "S0001-37322003000200006-1", "chart-7")] == [3, 1, 2, 0, 1]
    assert [shard_of(chart_id, 3) for chart_id in ("a", "b", "c")] == [1, 2, 1]
    assert {shard_of("anything", 1)} == {0}
    with pytest.raises(ValueError, match="num_shards"):
        shard_of("a", 0)


def test_shards_partition_the_split_and_keep_its_order() -> None:
    everything = load_charts(sample())
    assert len(everything) == 40
    shards = [load_charts(sample(num_shards=4, shard=shard)) for shard in range(4)]
    ids = [[chart.id for chart in part] for part in shards]
    assert all(ids), "every shard of the 40 sample charts holds some"
    assert sum(len(part) for part in ids) == len(everything)  # disjoint ...
    assert set().union(*map(set, ids)) == {chart.id for chart in everything}  # ... and together the split
    order = [chart.id for chart in everything]
    assert all(part == [i for i in order if i in set(part)] for part in ids)  # each in the split's order
    assert all(shard_of(i, 4) == shard for shard, part in enumerate(ids) for i in part)
    again = load_charts(sample(num_shards=4, shard=2))
    assert [chart.model_dump() for chart in shards[2]] == [chart.model_dump() for chart in again]


def test_limit_cuts_the_split_before_it_is_sharded() -> None:
    first_twelve = [chart.id for chart in load_charts(sample(limit=12))]
    shards = [[chart.id for chart in load_charts(sample(limit=12, num_shards=3, shard=shard))] for shard in range(3)]
    assert sorted(i for part in shards for i in part) == sorted(first_twelve)
    assert shard_charts(load_charts(sample(limit=12)), 3, 1) == load_charts(sample(limit=12, num_shards=3, shard=1))


def test_what_an_extractor_learns_from_is_never_sharded() -> None:
    train = load_split(sample(split="train", num_shards=4, shard=1), purpose="learn").charts
    assert len(train) > 4
    assert [c.id for c in train] == [c.id for c in load_split(sample(split="train"), purpose="learn").charts]


def test_a_chart_keeps_its_shard_when_others_come_and_go() -> None:
    charts = load_charts(sample())
    fewer = shard_charts(charts[5:], 4, 0)
    assert fewer == [chart for chart in shard_charts(charts, 4, 0) if chart in charts[5:]]


def test_an_empty_shard_is_an_error_that_names_the_fix() -> None:
    (only,) = load_charts(sample(limit=1))
    empty = 1 - shard_of(only.id, 2)
    assert load_charts(sample(limit=1, num_shards=2, shard=1 - empty)) == [only]
    with pytest.raises(DataError, match=rf"shard={empty} of dataset.num_shards=2 holds none of the 1 charts.*fewer shards"):
        load_charts(sample(limit=1, num_shards=2, shard=empty))


@pytest.mark.parametrize(("fields", "message"), [
    ({"num_shards": 4, "shard": 4}, r"dataset.shard=4 is not below dataset.num_shards=4 \(shards are numbered 0 to 3\)"),
    ({"shard": 1}, r"dataset.shard=1 is not below dataset.num_shards=1"),
    ({"num_shards": 0}, r"num_shards\n.*greater than or equal to 1"),
    ({"num_shards": 2, "shard": -1}, r"shard\n.*greater than or equal to 0"),
])
def test_a_shard_outside_the_shards_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        sample(**fields)


def test_a_job_config_names_both_shard_keys() -> None:
    from harness.config import config_option
    from harness.job_config import JobConfig

    with pytest.raises(ConfigError, match=r"^invalid config: dataset: .*dataset.shard=3 is not below dataset.num_shards=2"):
        JobConfig.from_composed({"dataset": config_option("dataset", "sample") | {"num_shards": 2, "shard": 3}})
