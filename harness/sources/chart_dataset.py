"""Charts as a Hugging Face ``datasets.Dataset``: typed features, cached on disk.

A source that reads many files (CodiEsp) parses them into chart rows once; ``datasets``
caches the Arrow table keyed by the source's fingerprint (file digests + options), so
later runs load without parsing. User chart files skip it: checking their lines costs no
more than reading the cache back (200 sample charts: 27 ms either way).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.config import cache_root
from harness.contracts import Chart
from harness.errors import DataError


def chart_features() -> Any:
    from datasets import Features, List, Value

    span = {"start": Value("int64"), "end": Value("int64"), "text": Value("string"), "page": Value("int32")}
    return Features(
        {
            "id": Value("string"),
            "language": Value("string"),
            "text": Value("string"),
            "pages": List(
                {"index": Value("int32"), "offset": Value("int64"), "text": Value("string"), "image_path": Value("string")}
            ),
            "gold": List({"code": Value("string"), "system": Value("string"), "evidence": List(span),
                          "discontinuous": List(List(Value("int32")))}),
            "meta_json": Value("string"),
        }
    )


def chart_to_row(chart: Chart) -> dict[str, Any]:
    row = chart.model_dump(mode="json", exclude={"meta"})
    row["meta_json"] = json.dumps(chart.meta, sort_keys=True, ensure_ascii=False)
    return row


def row_to_chart(row: dict[str, Any]) -> Chart:
    row = dict(row)
    row["meta"] = json.loads(row.pop("meta_json"))
    return Chart.model_validate(row)


def _rows(produce: Callable[..., Iterator[Chart]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    for chart in produce(**kwargs):
        yield chart_to_row(chart)


def cached_charts(produce: Callable[..., Iterator[Chart]], cache_dir: str | None, **kwargs: Any) -> list[Chart]:
    """Charts from ``produce(**kwargs)``, built once into a cached ``datasets.Dataset``.

    ``kwargs`` must identify the input completely (include a digest of the files):
    ``datasets`` fingerprints them to decide whether the cache is still valid.
    """
    import datasets

    datasets.disable_progress_bars()
    try:
        table = datasets.Dataset.from_generator(
            _rows,
            features=chart_features(),
            cache_dir=str(Path(cache_dir) if cache_dir else cache_root() / "datasets"),
            gen_kwargs={"produce": produce, **kwargs},
        )
    except datasets.exceptions.DatasetGenerationError as error:
        # Surface the real error (ours names the file and line), not the generic wrapper.
        cause = error.__cause__
        if isinstance(cause, DataError):
            raise cause from None
        raise
    except ValueError as error:
        if "corresponds to no data" in str(error):  # how datasets reads back a table of no rows; the caller decides
            return []
        raise
    return [row_to_chart(row) for row in table]


def files_digest(paths: list[Path]) -> str:
    """Digest of the names, sizes and modification times of ``paths`` (cheap cache key)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        h.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()
