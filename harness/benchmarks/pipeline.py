"""Overlap benchmark of the pipeline's schedule: intake alone, extraction alone, stop-and-go, streaming.

    harness bench pipeline --limit 60 --degradation fax_light --extractor simulated_accelerator --balance

On the same charts and settings, in one process, one after another, after one warm-up call: (a) intake
alone (degrade and OCR every chart with the pipeline's intake threads), (b) extraction alone (the prepared
charts, in calls as large as the streaming queue allows), (c) the stop-and-go policy and (d) the streaming
policy, both end to end without the extraction cache. The ideal overlap takes max(a, b); efficiency =
max(a, b) / d is the share of it reached. The engine's busy share is the time with an extractor call in flight
over the wall time; intake's is its charts' degrade and OCR seconds over its threads' time (intake threads when
streaming, one when stop-and-go), coding's its charts' coding, edit and routing seconds over the wall time. The
stage with the largest share bounds the run's throughput.

The simulated accelerator runs (b) to (d) once per device preset (``--presets``, all by default: vLLM on an H100,
HF ``generate`` on an H200), each a table of its own after the shared (a). ``--balance`` (simulated accelerator
only) sets each preset's prefill rate from the measured intake time, so that extraction alone takes about as long
as intake alone where the preset's decoding leaves room for it: the case where overlap matters most.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

STAGES = ("intake", "engine", "coding")
"""The pipeline's stages, as the bench names them."""


@dataclass
class Row:
    path: str
    seconds: float
    busy_s: float | None = None
    calls: int | None = None
    output_tokens: int = 0
    """Tokens the model generated (0 for intake and for extractors without a model)."""
    shares: dict[str, float] | None = None
    """Busy share of each stage (``STAGES``), for the end-to-end rows."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sample", help="dataset option (conf/dataset/)")
    parser.add_argument("--split", default="dev,test", help="split, or splits joined by commas (the sample's dev and test: 80)")
    parser.add_argument("--limit", type=int, default=60, help="charts")
    parser.add_argument("--degradation", default="fax_light", help="degradation option (conf/degradation/)")
    parser.add_argument("--extractor", default="simulated_accelerator", help="extractor option (conf/extractor/)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an extractor field (YAML value), e.g. --set output_tokens_mean=100")
    parser.add_argument("--presets", default=None,
                        help="simulated accelerator: device presets joined by commas (default: every preset)")
    parser.add_argument("--rules", default="icd10cm_2026_v2", help="rule pack option (conf/rules/)")
    parser.add_argument("--queue-size", type=int, default=256, help="streaming: charts admitted ahead (pipeline.queue_size)")
    parser.add_argument("--intake-threads", type=int, default=2, help="charts read at once (pipeline.intake_threads)")
    parser.add_argument("--batch-size", type=int, default=32, help="stop-and-go batch (pipeline.batch_size)")
    parser.add_argument("--balance", action="store_true",
                        help="simulated accelerator: set prefill_tokens_per_s so extraction alone takes as long as intake")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import yaml
    from pydantic import ValidationError
    from rich.console import Console

    from coders.engine import RuleEngine
    from coders.routing import RoutingConfig, route
    from coders.rule_pack import load_pack
    from extractors.simulated_accelerator import PRESETS
    from harness.config import DatasetConfig, config_option
    from harness.intake.degrade.config import DegradationConfig
    from harness.intake.ocr import IntakeConfig
    from harness.pipeline.chart_steps import PipelineDesign
    from harness.pipeline.config import PipelineConfig
    from harness.pipeline.preparation import ChartPreparer
    from harness.registry import EXTRACTORS
    from harness.sources import load_charts

    simulated = args.extractor == "simulated_accelerator"
    if args.balance and not simulated:
        parser.error("--balance sets the simulated accelerator's speed; use --extractor simulated_accelerator")
    if args.presets is not None and not simulated:
        parser.error("--presets picks the simulated accelerator's device; use --extractor simulated_accelerator")
    presets = (args.presets or ",".join(PRESETS)).split(",") if simulated else [None]
    if unknown := [p for p in presets if p is not None and p not in PRESETS]:
        parser.error(f"--presets: unknown preset {', '.join(unknown)} (valid: {', '.join(PRESETS)})")
    settings = config_option("extractor", args.extractor)
    for item in args.set:
        field, _, value = item.partition("=")
        settings[field] = yaml.safe_load(value)
    for preset in presets:  # a wrong --set fails now, not after intake
        try:
            EXTRACTORS.resolve(args.extractor).config_model.model_validate(settings | ({"preset": preset} if preset else {}))
        except ValidationError as error:
            first = error.errors()[0]
            where = "".join(f"{part}: " for part in first["loc"])
            parser.error(f"--set: extractor {args.extractor}: {where}{first['msg']}")
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

    def design(extractor) -> PipelineDesign:
        return PipelineDesign(extractor=extractor, code=engine.code, coder_id=f"{pack.name}@{pack.version}",
                              route=lambda extraction, codes, edits: route(extraction, codes, routing, edits),
                              router_id=routing.name, prepare=preparer)

    measured = []
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(args.intake_threads) as pool:
            prepared = list(pool.map(preparer, charts))
        intake_row = Row(f"(a) intake alone ({args.degradation}, {args.intake_threads} threads)",
                         time.perf_counter() - started)
        readable = [p.chart for p in prepared if p.chart.text.strip()]
        for preset in presets:
            own = settings if preset is None else {**settings, "preset": preset}
            if args.balance:
                own["prefill_tokens_per_s"] = balanced_prefill(own, readable, intake_row.seconds)
            rows, outcomes = measure(args, own, dataset, design, config, charts, readable)
            measured.append((preset, [intake_row, *rows], outcomes))
    finally:
        preparer.close()

    console = Console(width=190)
    for preset, rows, outcomes in measured:
        title = f"Pipeline overlap: {len(charts)} charts of {args.dataset}/{args.split}, {args.degradation}, " \
                f"extractor {args.extractor}" + (f", preset {preset}" if preset else "")
        console.print(table(title, rows, len(charts)))
        report(console, preset, rows, outcomes, len(charts))
    return 0


def measure(args, settings: dict, dataset, design, config, charts, readable) -> tuple[list[Row], list[list]]:
    """Rows (b) to (d) for one extractor configuration (``design(extractor)`` its pipeline), and each policy's codes
    and routes chart by chart."""
    from extractors.base import LearnsFromCharts
    from harness.pipeline.streaming import run_pipeline
    from harness.registry import EXTRACTORS
    from harness.sources import load_charts

    extractor = EXTRACTORS.resolve(args.extractor)(settings)
    try:
        if settings.get("train_split") and isinstance(extractor, LearnsFromCharts):
            extractor.fit(load_charts(dataset.model_copy(update={"split": settings["train_split"], "limit": None}),
                                      purpose="learn"))
        extractor.extract(readable[:1])  # warm-up: an engine starts (and compiles) before anything is timed
        rows = [extraction_alone(extractor, readable, args.queue_size)]
        outcomes = []
        for policy in ("stop_and_go", "streaming"):
            run = run_pipeline(charts, design(extractor), config.model_copy(update={"policy": policy}), progress=False)
            outcomes.append([(r.chart_id, [c.code for c in r.codes], r.route, r.reasons) for r in run.results])
            streaming = policy == "streaming"
            label = f"(d) streaming, queue {args.queue_size}" if streaming else f"(c) stop-and-go, batches of {args.batch_size}"
            rows.append(Row(label, run.wall_s, run.extract_busy_s, run.extract_calls,
                            sum(e.output_tokens for e in run.extractions),
                            stage_shares(run, args.intake_threads if streaming else 1)))
    finally:
        extractor.close()
    return rows, outcomes


def stage_shares(run, intake_workers: int) -> dict[str, float]:
    """Each stage's busy share of ``run``, from what the pipeline records: the charts' degrade and OCR seconds over
    ``intake_workers`` threads' wall time, the engine's busy seconds, and the charts' coding, edit and routing
    seconds (one thread), each over the wall time."""
    seconds = {stage: 0.0 for stage in STAGES}
    for result in run.results:
        spent = result.stage_seconds
        seconds["intake"] += spent.get("degrade", 0.0) + spent.get("intake", 0.0)
        seconds["coding"] += spent.get("code", 0.0) + spent.get("edit", 0.0) + spent.get("route", 0.0)
    seconds["engine"] = run.extract_busy_s
    return {stage: spent / run.wall_s / (intake_workers if stage == "intake" else 1) for stage, spent in seconds.items()}


def bound(shares: dict[str, float]) -> str:
    """The stage that bounds throughput: the busiest."""
    return max(shares, key=shares.__getitem__)


def table(title: str, rows: list[Row], n_charts: int):
    """The bench table: one row per path, its speed, its extractor work and, end to end, its stages' busy shares."""
    from rich.table import Table

    out = Table(title=title, title_justify="left")
    for column in ("path", "seconds", "charts/s", "extractor calls", "output tokens", "engine busy share",
                   "intake busy share", "coding busy share", "bound by", "max(a, b) / this"):
        out.add_column(column, justify="left" if column == "path" else "right")
    ideal = max(rows[0].seconds, rows[1].seconds)
    for row in rows:
        shares = row.shares or {}
        out.add_row(row.path, f"{row.seconds:.2f}", f"{n_charts / row.seconds:.2f}",
                    "" if row.calls is None else str(row.calls), str(row.output_tokens) if row.output_tokens else "",
                    "" if row.busy_s is None else f"{row.busy_s / row.seconds:.2f}",
                    *(f"{shares[stage]:.2f}" if shares else "" for stage in ("intake", "coding")),
                    bound(shares) if shares else "", f"{ideal / row.seconds:.2f}" if row.busy_s is not None else "")
    return out


def report(console, preset: str | None, rows: list[Row], outcomes: list[list], n_charts: int) -> None:
    """The lines under a table: which stage bounds each policy, the engine's busy share, efficiency, agreement."""
    ideal = max(rows[0].seconds, rows[1].seconds)
    stop_and_go, streaming = rows[2], rows[3]
    prefix = f"preset {preset}: " if preset else ""
    for name, row in (("streaming", streaming), ("stop-and-go", stop_and_go)):
        shares = ", ".join(f"{stage} {share:.2f}" for stage, share in row.shares.items())
        console.print(f"{prefix}{name} bound by {bound(row.shares)} (busy shares: {shares}); "
                      f"engine busy share {row.shares['engine']:.2f}", highlight=False)
    console.print(f"{prefix}streaming efficiency (share of the ideal overlap): {ideal / streaming.seconds:.2f}; "
                  f"stop-and-go: {ideal / stop_and_go.seconds:.2f}", highlight=False)
    same = sum(a == b for a, b in zip(*outcomes, strict=True))
    console.print(f"{prefix}charts with the same codes and routes under both policies: {same} of {n_charts}"
                  " (a model engine without batch-invariant numerics may differ)", highlight=False)


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
    """The simulated accelerator's prefill rate at which extracting ``charts`` in one call takes about ``intake_s``
    (device time is linear in the prefill's seconds; where decoding alone takes longer, prefill is made ~free)."""
    from extractors.simulated_accelerator import SimulatedAcceleratorConfig

    config = SimulatedAcceleratorConfig.model_validate(settings)
    prompt_tokens = sum(config.prompt_tokens(chart) for chart in charts)
    rest = config.device_seconds(charts) - prompt_tokens / config.device_model().prefill_tokens_per_s
    return prompt_tokens / max(intake_s - rest, 1e-3)


if __name__ == "__main__":
    sys.exit(main())
