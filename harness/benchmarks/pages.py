"""Throughput benchmark of the page path: render, degrade, OCR, and the harness's OCR against bare tesseract.

    harness bench pages --dataset sample --split dev --limit 4 --degradation fax_light

All steps run on the same charts and the same page images in one process, one
after another, so the ratios compare like with like on this machine's load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench pages", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sample", help="dataset option (conf/dataset/)")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=4, help="charts to render (bare tesseract takes seconds per page)")
    parser.add_argument("--degradation", default="fax_light", help="image degradation option (conf/degradation/)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from harness.config import DatasetConfig, config_option
    from harness.intake.degrade import degrade_chart
    from harness.intake.degrade.config import DegradationConfig
    from harness.intake.ocr import IntakeConfig, bare_tesseract_seconds, check_tesseract, read_pages
    from harness.intake.render import render_chart
    from harness.sources import load_charts

    dataset = DatasetConfig.model_validate(config_option("dataset", args.dataset)
                                           | {"split": args.split, "limit": args.limit, "data_dir": None})
    degradation = DegradationConfig.model_validate(config_option("degradation", args.degradation))
    if degradation.render is None:
        parser.error(f"degradation {args.degradation!r} renders no pages; pick an image degradation")
    intake = IntakeConfig.model_validate(config_option("intake", "tesseract"))
    print(check_tesseract(intake), file=sys.stderr)
    charts = load_charts(dataset)

    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        started = time.perf_counter()
        rendered = [page for chart in charts for page in render_chart(chart, Path(tmp) / "render" / chart.id, degradation.render)]
        rows.append(("render", len(rendered), time.perf_counter() - started))
        started = time.perf_counter()
        degraded = [page for chart in charts
                    for page in degrade_chart(chart, degradation, args.seed, Path(tmp) / "degrade").pages]
        # degrade_chart renders again first: charge only the damage to this row
        rows.append((f"degrade ({args.degradation}, render excluded)", len(degraded), time.perf_counter() - started - rows[0][2]))
        paths = [page.image_path for page in degraded]
        started = time.perf_counter()
        read_pages(paths, intake)
        rows.append((f"OCR: harness intake ({intake.workers} workers x {intake.threads_per_process} thread)", len(paths),
                     time.perf_counter() - started))
        rows.append(("OCR: bare tesseract (sequential, default threads)", len(paths), bare_tesseract_seconds(paths, intake)))

    table = Table(title=f"Page throughput: {len(charts)} charts of {args.dataset}/{args.split}", title_justify="left")
    for column in ("step", "pages", "seconds", "pages/s"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step, pages, seconds in rows:
        table.add_row(step, str(pages), f"{seconds:.2f}", f"{pages / seconds:.2f}")
    console = Console(width=110)
    console.print(table)
    console.print(f"harness OCR / bare tesseract: {rows[3][2] / rows[2][2]:.1f}x the pages per second", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
