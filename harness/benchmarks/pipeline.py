"""Overlap benchmark of the pipeline's schedule: intake alone, extraction alone, stop-and-go, streaming.

    harness bench pipeline --limit 60 --degradation fax_light --extractor simulated_accelerator --balance

On the same charts and settings, in one process, one after another, after one warm-up call: (a) intake
alone (degrade and OCR every chart with the pipeline's intake threads), (b) extraction alone (the prepared
charts, in calls as large as the streaming queue allows), (c) the stop-and-go policy and (d) the streaming
policy, both end to end without the extraction cache. The ideal overlap takes max(a, b); efficiency =
max(a, b) / d is the share of it reached. The engine's busy share is the time with an extractor call in flight over the wall time.

``--balance`` (simulated accelerator only) sets its prefill rate from the measured intake time, so that
extraction alone takes about as long as intake alone: the case where overlap matters most.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass
class Row:
    path: str
    seconds: float
    busy_s: float | None = None
    calls: int | None = None
    output_tokens: int = 0
    """Tokens the model generated (0 for intake and for extractors without a model)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sample", help="dataset option (conf/dataset/)")
    parser.add_argument("--split", default="dev,test", help="split, or splits joined by commas (the sample's dev and test: 80)")
    parser.add_argument("--limit", type=int, default=60, help="charts")
    parser.add_argument("--degradation", default="fax_light", help="degradation option (conf/degradation/)")
    parser.add_argument("--extractor", default="simulated_accelerator", help="extractor option (conf/extractor/)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an extractor field (YAML value), e.g. --set call_overhead_s=0.2")
    parser.add_argument("--rules", default="icd10cm_2026_v2", help="rule pack option (conf/rules/)")
    parser.add_argument("--queue-size", type=int, default=256, help="streaming: charts admitted ahead (pipeline.queue_size)")
    parser.add_argument("--intake-threads", type=int, default=2, help="charts read at once (pipeline.intake_threads)")
    parser.add_argument("--batch-size", type=int, default=32, help="stop-and-go batch (pipeline.batch_size)")
    parser.add_argument("--balance", action="store_true",
                        help="simulated accelerator: set prefill_tokens_per_s so extraction alone takes as long as intake")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import yaml
    from rich.console import Console
    from rich.table import Table

    from coders.engine import RuleEngine
    from coders.routing import RoutingConfig, route
    from coders.rule_pack import load_pack
    from extractors.base import LearnsFromCharts
    from harness.config import DatasetConfig, config_option
    from harness.intake.degrade.config import DegradationConfig
    from harness.intake.ocr import IntakeConfig
    from harness.pipeline.chart_steps import PipelineDesign
    from harness.pipeline.config import PipelineConfig
    from harness.pipeline.preparation import ChartPreparer
    from harness.pipeline.streaming import run_pipeline
    from harness.registry import EXTRACTORS
    from harness.sources import load_charts

    if args.balance and args.extractor != "simulated_accelerator":
        parser.error("--balance sets the simulated accelerator's speed; use --extractor simulated_accelerator")
    settings = config_option("extractor", args.extractor)
    for item in args.set:
        field, _, value = item.partition("=")
        settings[field] = yaml.safe_load(value)
    dataset = DatasetConfig.model_validate(config_option("dataset", args.dataset) | {"data_dir": None})
    charts = [chart.model_copy(update={"gold": []}) for split in args.split.split(",")
              for chart in load_charts(dataset.model_copy(update={"split": split}))][: args.limit]
    degradation = DegradationConfig.model_validate(config_option("degradation", args.degradation))
    intake = IntakeConfig.model_validate(config_option("intake", "tesseract"))
    pack = load_pack(args.rules)
    engine = RuleEngine(pack)
    routing = RoutingConfig.model_validate(config_option("routing", "default"))
    config = PipelineConfig(queue_size=args.queue_size, intake_threads=args.intake_threads, batch_size=args.batch_size)
    preparer = ChartPreparer(degradation, intake, seed=args.seed, progress=False)
    extractor = None
    rows: list[Row] = []
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(args.intake_threads) as pool:
            prepared = list(pool.map(preparer, charts))
        rows.append(Row(f"(a) intake alone ({args.degradation}, {args.intake_threads} threads)", time.perf_counter() - started))
        readable = [p.chart for p in prepared if p.chart.text.strip()]
        if args.balance:
            settings["prefill_tokens_per_s"] = balanced_prefill(settings, readable, rows[0].seconds)
        extractor = EXTRACTORS.resolve(args.extractor)(settings)
        if settings.get("train_split") and isinstance(extractor, LearnsFromCharts):
            extractor.fit(load_charts(dataset.model_copy(update={"split": settings["train_split"], "limit": None}),
                                      purpose="learn"))
        design = PipelineDesign(extractor=extractor, code=engine.code, coder_id=f"{pack.name}@{pack.version}",
                                route=lambda extraction, codes, edits: route(extraction, codes, routing, edits),
                                router_id=routing.name, prepare=preparer)
        extractor.extract(readable[:1])  # warm-up: an engine starts (and compiles) before anything is timed
        rows.append(extraction_alone(extractor, readable, args.queue_size))
        outcomes = []
        for policy in ("stop_and_go", "streaming"):
            run = run_pipeline(charts, design, config.model_copy(update={"policy": policy}), progress=False)
            outcomes.append([(r.chart_id, [c.code for c in r.codes], r.route, r.reasons) for r in run.results])
            label = f"(c) stop-and-go, batches of {args.batch_size}" if policy == "stop_and_go" else \
                f"(d) streaming, queue {args.queue_size}"
            rows.append(Row(label, run.wall_s, run.extract_busy_s, run.extract_calls,
                            sum(e.output_tokens for e in run.extractions)))
    finally:
        preparer.close()
        if extractor is not None:
            extractor.close()

    table = Table(title=f"Pipeline overlap: {len(charts)} charts of {args.dataset}/{args.split}, {args.degradation}, "
                        f"extractor {args.extractor}", title_justify="left")
    for column in ("path", "seconds", "charts/s", "extractor calls", "output tokens", "engine busy share", "max(a, b) / this"):
        table.add_column(column, justify="left" if column == "path" else "right")
    ideal = max(rows[0].seconds, rows[1].seconds)
    for row in rows:
        table.add_row(row.path, f"{row.seconds:.2f}", f"{len(charts) / row.seconds:.2f}",
                      "" if row.calls is None else str(row.calls), str(row.output_tokens) if row.output_tokens else "",
                      "" if row.busy_s is None else f"{row.busy_s / row.seconds:.2f}",
                      f"{ideal / row.seconds:.2f}" if row.busy_s is not None else "")
    console = Console(width=150)
    console.print(table)
    console.print(f"streaming efficiency (share of the ideal overlap): {ideal / rows[3].seconds:.2f}; "
                  f"stop-and-go: {ideal / rows[2].seconds:.2f}", highlight=False)
    same = sum(a == b for a, b in zip(*outcomes, strict=True))
    console.print(f"charts with the same codes and routes under both policies: {same} of {len(charts)}"
                  " (a model engine without batch-invariant numerics may differ)", highlight=False)
    return 0


def extraction_alone(extractor, charts, largest_call: int) -> Row:
    """Every readable chart extracted with nothing else running, in calls as large as streaming could make."""
    started = time.perf_counter()
    calls = 0
    tokens = 0
    for first in range(0, len(charts), largest_call):
        tokens += sum(e.output_tokens for e in extractor.extract(charts[first : first + largest_call]))
        calls += 1
    seconds = time.perf_counter() - started
    return Row(f"(b) extraction alone (calls of up to {largest_call})", seconds, None, calls, tokens)


def balanced_prefill(settings: dict, charts, intake_s: float) -> float:
    """The simulated accelerator's prefill rate at which extracting ``charts`` in one call takes about ``intake_s``."""
    from extractors.simulated_accelerator import SimulatedAcceleratorConfig

    config = SimulatedAcceleratorConfig.model_validate(settings)
    prompt_tokens = [config.prompt_tokens(chart) for chart in charts]
    rest = config.device_seconds(prompt_tokens) - sum(prompt_tokens) / config.prefill_tokens_per_s
    return sum(prompt_tokens) / max(intake_s - rest, 1e-3)


if __name__ == "__main__":
    sys.exit(main())
