"""User charts in a chart file, one ``Chart`` per line or row (the schema of ``harness.contracts.Chart``), in any format
a reader is registered for (``harness.sources.readers``: JSONL, Parquet, CSV, and plugins'); ``dataset.format`` picks
the reader, or the file's suffix when it is unset.

Either ``dataset.path`` contains ``{split}`` (one file per split; a chart's ``meta.split``, if it has one, must
agree), or one file holds every split and each chart's ``meta.split`` says which. A chart without ``meta.split``
in such a file is an evaluation chart: it belongs to the split being evaluated, and no extractor learns from it.

Every line is checked before it becomes a chart (``field_mapping``, ``chart_record``, ``image_paths``). A bad line
stops the load or is skipped (``dataset.on_bad_line``); a chart whose ``meta.split`` names no split is skipped under
either policy. Either way the caller gets each skipped line back, so no chart is lost without a word.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, get_args

from harness.config import DatasetConfig, Split
from harness.contracts import Chart
from harness.errors import DataError
from harness.registry import DATASETS
from harness.sources.chart_record import chart_from_record
from harness.sources.field_mapping import chart_fields
from harness.sources.image_paths import resolve_image_paths
from harness.sources.loaded import LineProblem, LoadedCharts, Problem, Purpose, SkippedLine, quoted
from harness.sources.readers import accepted_files, reader_for

SPLITS: tuple[str, ...] = get_args(Split)


@DATASETS.register("jsonl")
@DATASETS.register("parquet")
@DATASETS.register("csv")
def load_user_charts(config: DatasetConfig, purpose: Purpose = "evaluate") -> LoadedCharts:
    """Charts of ``config.split`` from ``dataset.path`` for ``purpose``, with the lines skipped on the way."""
    if not config.path:
        raise DataError(f"dataset {config.name!r} needs dataset.path ({accepted_files()}; may contain {{split}})")
    path = Path(config.path.replace("{split}", config.split)).expanduser()
    return read_chart_file(path, config, purpose, file_split=config.split if "{split}" in config.path else None)


def load_chart_file(path: Path, config: DatasetConfig) -> list[Chart]:
    """Charts of ``config.split`` from a bundled chart file (the sample), which must be clean: a skipped line is an error."""
    loaded = read_chart_file(path, config.model_copy(update={"on_bad_line": "stop"}))
    if loaded.skipped:
        raise DataError(str(loaded.skipped[0]))
    return loaded.charts


def read_chart_file(path: Path, config: DatasetConfig, purpose: Purpose = "evaluate",
                    file_split: str | None = None) -> LoadedCharts:
    """The charts of ``config.split`` in one file, checked line by line, in file order.

    ``file_split`` is the split the whole file holds (``{split}`` in ``dataset.path``); None when each chart's
    ``meta.split`` says. For ``purpose="evaluate"`` a split without charts is an error; for ``"learn"`` it is empty.
    """
    _check_file(path)
    reader = reader_for(path, config)
    folder = path.parent.resolve()
    loaded = LoadedCharts()
    first_at: dict[str, str] = {}  # chart id -> the line that holds it
    other_splits: Counter[str] = Counter()

    def skip(where: str, problem: Problem, *, bad: bool = True) -> None:
        line = SkippedLine(where=where, problem=problem)
        if bad and config.on_bad_line == "stop":
            raise DataError(str(line))
        loaded.skipped.append(line)

    for where, fields in reader.records(path, config):
        try:
            chart = _chart(fields, folder, config)
        except LineProblem as problem:
            skip(where, problem.problem)
            continue
        if chart.id in first_at:  # ids are NFC: one id written composed and decomposed repeats too
            skip(where, Problem("id ", quoted(chart.id), f" repeats the chart at {first_at[chart.id]}"))
            continue
        first_at[chart.id] = where
        # no meta.split (or null): the file's split; in one file for every split, an evaluation chart
        split = file_split if chart.meta.get("split") is None else chart.meta["split"]
        if split is None:
            if purpose == "evaluate":
                loaded.charts.append(chart)
        elif split not in SPLITS:  # a typo or a split of the user's own: say so, never drop it unseen
            skip(where, Problem("meta.split ", quoted(split), " of chart ", quoted(chart.id),
                                f" is not a split ({', '.join(SPLITS)})"), bad=False)
        elif split == config.split:
            loaded.charts.append(chart)
        elif file_split:
            skip(where, Problem("meta.split ", quoted(split), " of chart ", quoted(chart.id),
                                f", but dataset.path names this file for split {file_split!r}"))
        else:
            other_splits[split] += 1
    if not loaded.charts and purpose == "evaluate":
        raise DataError(_no_charts(config, path, other_splits, len(loaded.skipped)))
    return loaded


def _chart(fields: dict[str, Any] | LineProblem, folder: Path, config: DatasetConfig) -> Chart:
    """The chart of a reader's record, its page images checked; a ``LineProblem`` for a bad record."""
    if isinstance(fields, LineProblem):
        raise fields
    chart = chart_from_record(chart_fields(fields, config.columns), config)
    resolve_image_paths(chart, folder, config)
    return chart


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise DataError(f"dataset.path {path} is a folder: expected {accepted_files()} (or a path containing {{split}})")
    if not path.exists():
        raise DataError(f"chart file {path} does not exist")
    if not path.is_file():
        raise DataError(f"chart file {path} is not a regular file (a device, pipe or socket)")


def _no_charts(config: DatasetConfig, path: Path, other_splits: Counter[str], n_skipped: int) -> str:
    found = ", ".join(f"{n} of split {split!r}" for split, n in sorted(other_splits.items())) or "no chart of another split"
    return (f"dataset {config.name!r} split {config.split!r}: no charts in {path} (found {found}; "
            f"{n_skipped} lines skipped). Give its charts meta.split {config.split!r} (or none: evaluation charts), "
            "put {split} in dataset.path to read one file per split, or set dataset.split to a split the file holds")
