"""Throughput benchmark of the CPU ``reference`` extractor: chart by chart with default thread pools, against batched.

    harness bench reference --dataset codiesp_es --split dev --limit 250 --codes D
    harness bench reference --limit 40 --fit --fit-limit 60     # also time the fit
    harness bench reference --before-limit 50   # the slow path on the first 50 charts only

Both paths score the same charts with the same loaded artifact in one process. ``per chart`` is how the
extractor scored before batching: ``ReferenceModel.predict`` once per chart, the libraries' thread pools as they
come (one thread per core). ``batched`` is ``ReferenceExtractor.extract`` on groups of ``--batch`` charts (as the
pipeline hands them over), with its ``threads`` cap. Each path runs alone, then beside ``--busy`` CPU-bound
processes (each spinning a Python loop, started and stopped here), as when the jobs of a sweep share the machine.
The findings of every round must be identical (else exit 1). Chart by chart with default pools can take
seconds per chart beside a busy process: ``--before-limit`` scores only the first charts that way.

``--fit`` also fits the model on the first ``--fit-limit`` training charts with the default thread pools and with
``--threads``, alone and beside the busy processes, and checks that every fit is the same model.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import pickle
import sys
import time
from collections.abc import Callable, Iterator


def _spin() -> None:
    while True:
        pass


def _loads(busy: int) -> tuple[int, ...]:
    """Busy processes of each round: none, then ``busy`` (if any)."""
    return (0, busy) if busy > 0 else (0,)


@contextlib.contextmanager
def _busy(processes: int) -> Iterator[None]:
    """``processes`` CPU-bound processes beside this one while the block runs."""
    context = multiprocessing.get_context("spawn")
    spinners = [context.Process(target=_spin, daemon=True) for _ in range(processes)]
    for process in spinners:
        process.start()
    time.sleep(0.5 if spinners else 0.0)  # let them get going
    try:
        yield
    finally:
        for process in spinners:
            process.terminate()
        for process in spinners:
            process.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench reference", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="codiesp_es", help="CodiEsp dataset option: codiesp_es or codiesp_en")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=250, help="charts to score (default: the 250 of dev)")
    parser.add_argument("--codes", choices=["D", "P"], default="D", help="CodiEsp sub-track of the artifact")
    parser.add_argument("--artifact", default=None,
                        help="artifact name or folder (default: <dataset>_<codes>_train, as conf/extractor/reference.yaml)")
    parser.add_argument("--threads", type=int, default=None,
                        help="thread cap of the batched path and of the capped fit (default: the extractor's default)")
    parser.add_argument("--batch", type=int, default=32, help="charts per extract call of the batched path (the pipeline's)")
    parser.add_argument("--busy", type=int, default=1, help="CPU-bound processes beside the loaded rounds")
    parser.add_argument("--before-limit", type=int, default=None,
                        help="score only the first N charts chart by chart (default: all of them)")
    parser.add_argument("--fit", action="store_true", help="also time fits with default and capped thread pools")
    parser.add_argument("--fit-limit", type=int, default=60, help="training charts of each timed fit")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from extractors.base import extract_each
    from extractors.reference.artifact import CODES
    from extractors.reference.extractor import ReferenceExtractor
    from harness.config import DatasetConfig, config_option
    from harness.sources import load_charts

    system = CODES[args.codes]
    settings = {"name": "reference", "codes": args.codes, "artifact": args.artifact or f"{args.dataset}_{args.codes}_train"}
    if args.threads is not None:
        settings["threads"] = args.threads
    extractor = ReferenceExtractor(settings)
    threads = extractor.config.threads
    dataset = DatasetConfig.model_validate(config_option("dataset", args.dataset)
                                           | {"split": args.split, "limit": args.limit, "data_dir": None,
                                              "code_systems": [system], "unknown_gold_codes": "keep"})
    charts = [chart.model_copy(update={"gold": []}) for chart in load_charts(dataset)]
    model = extractor.artifact.model  # loads and checks the artifact

    before = charts[: args.before_limit]

    def per_chart() -> list:
        """Before batching: the model once per chart, default thread pools."""
        return extract_each(extractor.name, before, lambda c: ReferenceExtractor._findings(model, c, model.predict(c)))

    def batched() -> list:
        return [e for i in range(0, len(charts), args.batch) for e in extractor.extract(charts[i : i + args.batch])]

    extractor.extract(charts[:2])  # warm-up: lazy parts (assertion cues) of both paths
    paths: dict[str, Callable[[], list]] = {
        "per chart, default thread pools (before)": per_chart,
        f"batched by {args.batch}, threads={threads} (after)": batched,
    }
    rows, outputs = [], []
    for busy in _loads(args.busy):
        with _busy(busy):
            for path, run in paths.items():
                started = time.perf_counter()
                extractions = run()
                seconds = time.perf_counter() - started
                failed = sum(e.error is not None for e in extractions)
                outputs.append([[f.model_dump(mode="json") for f in e.findings] for e in extractions])
                rows.append((path, busy, len(extractions), seconds, failed))

    load = {0: "alone", args.busy: f"beside {args.busy} busy process{'es' if args.busy > 1 else ''}"}
    table = Table(title=f"reference extractor: {len(charts)} charts of {args.dataset}/{args.split} ({args.codes}), "
                        f"artifact {extractor.artifact.path.name}", title_justify="left")
    for column in ("path", "load", "charts", "seconds", "charts/s", "x before", "failed"):
        table.add_column(column, justify="left" if column in ("path", "load") else "right")
    rate = {(path, busy): n / seconds for path, busy, n, seconds, _ in rows}
    slow = {busy: r for (path, busy), r in rate.items() if path.endswith("(before)")}
    for path, busy, n, seconds, failed in rows:
        table.add_row(path, load[busy], str(n), f"{seconds:.2f}", f"{n / seconds:.2f}",
                      f"{rate[path, busy] / slow[busy]:.1f}", str(failed))
    console = Console(width=130)
    console.print(table)
    batched_output = outputs[1]  # every round against the batched path alone, on the charts the round scored
    identical = all(output == batched_output[: len(output)] for output in outputs)
    findings = sum(map(len, outputs[0]))
    console.print(f"predictions identical across the {len(outputs)} rounds ({findings} findings on the {len(before)} charts "
                  f"of every round: codes, confidences, evidence, attributes): {'yes' if identical else 'NO'}",
                  highlight=False, soft_wrap=True)
    failures = any(failed for *_, failed in rows)
    if not failures and identical and args.fit:
        identical = _bench_fit(args, threads, console)
    return 0 if identical and not failures else 1


def _bench_fit(args: argparse.Namespace, threads: int | None, console) -> bool:  # noqa: ANN001 - rich Console
    """Fit on ``--fit-limit`` training charts with default and capped thread pools, alone and loaded; same model each time."""
    from rich.table import Table

    from extractors.reference.artifact import CODES
    from extractors.reference.model import ReferenceModel, model_threads
    from extractors.reference.settings import ReferenceSettings
    from harness.config import DatasetConfig, config_option

    dataset = DatasetConfig.model_validate(config_option("dataset", args.dataset)
                                           | {"split": "train", "limit": args.fit_limit, "data_dir": None,
                                              "code_systems": [CODES[args.codes]], "unknown_gold_codes": "keep"})
    from harness.sources import load_charts

    charts = load_charts(dataset)
    language = args.dataset.removeprefix("codiesp_")
    table = Table(title=f"reference fit: {len(charts)} training charts of {args.dataset}", title_justify="left")
    for column in ("thread pools", "load", "seconds", "x default"):
        table.add_column(column, justify="left" if column in ("thread pools", "load") else "right")
    models: dict[str, list[bytes]] = {}
    default: dict[int, float] = {}
    for busy in _loads(args.busy):
        with _busy(busy):
            for label, limit in (("default (one per core)", None), (f"threads={threads}", threads)):
                started = time.perf_counter()
                with model_threads(limit):
                    model = ReferenceModel(ReferenceSettings(), language, CODES[args.codes]).fit(charts)
                seconds = time.perf_counter() - started
                default.setdefault(busy, seconds)
                model.timings = {}
                models.setdefault(label, []).append(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
                table.add_row(label, "alone" if not busy else f"beside {busy} busy", f"{seconds:.1f}",
                              f"{default[busy] / seconds:.1f}")
    console.print(table)
    same = all(len(set(fits)) == 1 for fits in models.values())
    console.print(f"fits with the same thread pools identical (pickles without timings): {'yes' if same else 'NO'}",
                  highlight=False)
    first, second = (fits[0] for fits in models.values())
    across = "identical" if first == second else (
        "identical apart from the thread count the gradient boosting records (n_threads)"
        if _without_thread_counts(first) == _without_thread_counts(second) else
        "different (BLAS splits the classifier's sums by thread: last-bit differences)")
    console.print(f"default against capped thread pools: {across}", highlight=False, soft_wrap=True)
    return same


def _without_thread_counts(payload: bytes) -> bytes:
    """The pickled model with every ``n_threads`` attribute (what scikit-learn records of the fit's pools) set to 0."""
    model = pickle.loads(payload)  # noqa: S301 - pickled by this process
    seen: set[int] = set()
    stack = [model]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            if "n_threads" in vars(item):
                item.n_threads = 0
            stack.extend(vars(item).values())
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    sys.exit(main())
