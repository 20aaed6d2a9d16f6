"""Chart-size benchmark of one extractor: seconds per MB of chart text, from 0.1 MB to 8 MB.

    harness bench chart-size --sizes 0.1,0.5,1,2,4,8

Each chart is the dataset's chart texts (``--dataset``, ``--split``) joined and repeated up to the size, read by the
extractor (the default ``dictionary``, fitted as a run fits it) in one call each, one after another after a warm-up
call. Linear work shows as a flat seconds-per-MB column; a column that grows with the size is super-linear, and
``dataset.max_line_bytes`` and ``pipeline.chart_timeout_s`` are what bound such a chart in a run.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench chart-size", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.1,0.5,1,2,4,8", help="chart sizes in MB (10^6 characters), joined by commas")
    parser.add_argument("--dataset", default="sample", help="dataset option (conf/dataset/) whose texts are repeated")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--extractor", default="dictionary", help="extractor option (conf/extractor/)")
    args = parser.parse_args(argv)
    try:
        sizes = [float(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r} is not a list of numbers joined by commas")
    if not sizes or min(sizes) <= 0:
        parser.error("--sizes must be positive")

    import time

    from rich.console import Console
    from rich.table import Table

    from extractors.base import LearnsFromCharts
    from harness.config import DatasetConfig, config_option
    from harness.contracts import Chart
    from harness.registry import EXTRACTORS
    from harness.sources import load_charts

    dataset = DatasetConfig.model_validate(config_option("dataset", args.dataset) | {"split": args.split, "data_dir": None})
    source = load_charts(dataset)
    if not source:
        parser.error(f"dataset {args.dataset!r} split {args.split!r} has no charts")
    settings = config_option("extractor", args.extractor)
    extractor = EXTRACTORS.resolve(args.extractor)(settings)
    if settings.get("train_split") and isinstance(extractor, LearnsFromCharts):
        extractor.fit(load_charts(dataset.model_copy(update={"split": settings["train_split"]}), purpose="learn"))
    text = "\n\n".join(chart.text for chart in source)
    language = source[0].language

    def chart(mb: float) -> Chart:
        size = max(1, round(mb * 1_000_000))
        return Chart(id=f"bench-{mb:g}MB", language=language, text=(text * (size // len(text) + 1))[:size])

    extractor.extract([chart(0.01)])  # warm-up: term indexes, caches
    table = Table(title=f"{args.extractor} extractor: one chart of {args.dataset} text repeated")
    for column in ("chart MB", "seconds", "seconds per MB", "findings"):
        table.add_column(column, justify="right")
    per_mb = []
    for mb in sizes:
        one = chart(mb)
        started = time.perf_counter()
        extraction = extractor.extract([one])[0]
        seconds = time.perf_counter() - started
        if extraction.error:
            print(f"error: {args.extractor} failed on the {mb:g} MB chart: {extraction.error}")
            return 1
        per_mb.append(seconds / mb)
        table.add_row(f"{mb:g}", f"{seconds:.2f}", f"{seconds / mb:.2f}", str(len(extraction.findings)))
    console = Console(width=120)
    console.print(table)
    console.print(f"seconds per MB, largest chart / smallest: {per_mb[-1] / per_mb[0]:.2f} (1.00: linear)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
