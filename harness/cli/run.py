"""``harness run key=value ...``: the Hydra job (``-m`` for a sweep), over ``harness.run.run_job``.

Hydra is imported only when the command runs; the job's own work (build, run, score, record) is ``harness.run``'s.
A config Hydra cannot compose (a key or option typo) ends in one ``error:`` line (``harness.cli.config_errors``), exit 2;
so does an output folder Hydra cannot create or write (``hydra.run.dir`` or ``hydra.sweep.dir`` under a file, under
``/proc``, read-only).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.cli import job_folders
from harness.errors import USAGE_ERROR, HarnessError

job_folders.register()  # here, at import: a launcher's worker process imports this module to call ``job``

_HYDRA_FULL_ERROR = "HYDRA_FULL_ERROR"
"""Set, Hydra raises a composition error instead of printing it with its config search path and exiting 1."""


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


def main(argv: Sequence[str]) -> int:
    """``harness run``: the Hydra job; Hydra reads ``sys.argv``, so the subcommand's arguments are put there."""
    import hydra

    from harness.cli.config_errors import composition_message
    from harness.config import CONF_DIR
    from harness.job_config import register_model_defaults
    from harness.stop_signals import Stopped

    sys.argv = [sys.argv[0], *pack_paths(argv)]
    register_model_defaults()  # the groups' typed defaults, which conf/config.yaml merges each option over
    full_error = os.environ.get(_HYDRA_FULL_ERROR)
    os.environ[_HYDRA_FULL_ERROR] = "1"  # Hydra raises instead of printing its own lines: composition errors are ours
    try:
        hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(job)()
    except HarnessError:  # a sweep's job that failed on the user's input said so on its error line already
        return USAGE_ERROR
    except (Stopped, KeyboardInterrupt) as stop:  # Ctrl-C or SIGTERM: one line, the shell's status for the signal
        stopped = stop if isinstance(stop, Stopped) else Stopped(signal.SIGINT)  # Ctrl-C before the job began
        print(stopped, file=sys.stderr)
        return stopped.exit_status
    except Exception as error:
        if (message := composition_message(error) or _output_folder_problem(error, argv)) is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        _restore(_HYDRA_FULL_ERROR, full_error)
        if "harness.sweep" in sys.modules:  # a sweep whose jobs failed ends here, not in Hydra's on_multirun_end
            sys.modules["harness.sweep"].close_open_sweeps()
    return 0


def _output_folder_problem(error: Exception, argv: Sequence[str]) -> str | None:
    """The error line for a file Hydra itself could not create or write: the job's output folder, its ``.hydra`` copy of
    the config, its log (an ``OSError`` raised outside :func:`job`, or the cause of logging's "Unable to configure
    handler"); None for anything else, which keeps its traceback."""
    import traceback

    if any(frame.filename == __file__ and frame.name == job.__name__ for frame in traceback.extract_tb(error.__traceback__)):
        return None  # the job's own: a bug, or reported by the job already
    cause = error if isinstance(error, OSError) else error.__cause__
    if not isinstance(cause, OSError) or cause.filename is None:
        return None
    key = "hydra.sweep.dir" if {"-m", "--multirun"} & set(argv) else "hydra.run.dir"
    return f"the output folder cannot be created or written: {cause.filename}: {cause.strerror} (set {key} to a folder " \
           "you can write)"


def _restore(variable: str, value: str | None) -> None:
    """Put an environment variable back as it was (unset when it was)."""
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value


def job(cfg) -> float:
    """One Hydra job: the composed config in, the job's micro-F1 out (what an optimizing sweeper maximises; NaN without gold).

    In a sweep, a job already finished under the sweep's parent run (a re-submitted sweep) is skipped, and a job that
    fails is recorded as a FAILED run under the parent before the error goes on to Hydra, which runs the other jobs."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    from harness.errors import HarnessError
    from harness.recording import recorded_in
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
        if hydra_cfg.mode == RunMode.MULTIRUN:  # before any engine starts: parallel jobs must not share one GPU
            from extractors.llm.engine_pool import refuse_shared_device

            refuse_shared_device(config.get("extractor") or {}, OmegaConf.to_container(hydra_cfg.launcher))
        metrics = run_job(config, Path(hydra_cfg.runtime.output_dir), parent_run_id=parent, overrides=overrides)
    except BaseException as error:
        if parent and recorded_in(error) is None:  # a job whose run had started marked it FAILED or KILLED itself
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
