"""Hydra callback: a multirun (``-m``) gets one MLflow parent run; each job logs a child under it.

The parent's id is written into the sweep folder, which every job reads from its Hydra config:
in this process, in a launcher's worker processes, or in SLURM jobs on other nodes (the sweep
folder is on a file system they share, as submitit's own job files are). The parent also records
the planned jobs, so the jobs' states live in the tracking store, not in the launching process.

Re-submitting a sweep into the same folder (``hydra.sweep.dir=<folder>``) reopens its parent run;
jobs already finished there are skipped and only failed or missing ones run again. The sweep
ends FINISHED when every planned job finished, FAILED otherwise, with the sweep report either way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

PARENT_FILE = ".mlflow_parent_run_id"
log = logging.getLogger("harness")

_open_sweeps: dict[str, dict[str, Any]] = {}
"""Sweeps this process opened and has not closed: folder -> tracking config. A job failure makes Hydra raise before
``on_multirun_end``; ``close_open_sweeps`` then closes them."""


def parent_run_file(sweep_dir: str) -> Path:
    return Path(sweep_dir) / PARENT_FILE


def _tracker(tracking: dict[str, Any]) -> Any:
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    return Tracker(TrackingConfig.model_validate(tracking))


class ParentRunCallback(Callback):
    """Opens (or reopens) the parent run when a sweep starts and closes it when the sweep ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from harness.tracking.sweep_jobs import log_planned_jobs, planned_jobs
        from reports.run_description import NOTE_TAG, describe_sweep

        if not config.tracking.enabled:
            return
        tracking = OmegaConf.to_container(config.tracking, resolve=True)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        tracker = _tracker(tracking)
        path = parent_run_file(str(sweep_dir))
        task = _task_overrides(config)
        if path.is_file():
            run_id = path.read_text().strip()
            tracker.reopen(run_id)
            log.info("re-submitted sweep %s: parent run %s reopened; jobs it recorded as finished are skipped", sweep_dir, run_id)
        else:
            run_id = tracker.start_run(f"sweep {sweep_dir.name}",
                                       tags={"harness.kind": "sweep", "harness.overrides": " ".join(task)})
            path.write_text(run_id)
        params = config.hydra.sweeper.get("params")
        planned = planned_jobs(task, OmegaConf.to_container(params, resolve=True) if params else None)
        if planned is not None:
            log_planned_jobs(run_id, planned, tracker.uri)
        tracker.log(run_id, tags={NOTE_TAG: describe_sweep(planned or [], str(sweep_dir.resolve() / "sweep_report.html"))})
        _open_sweeps[str(sweep_dir)] = {"tracking": tracking, "resubmit": _resubmit_command(config, sweep_dir)}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        close_sweep(str(Path(config.hydra.sweep.dir)))


def close_open_sweeps() -> None:
    """Close every sweep this process opened and did not close (its jobs failed, or the launcher gave up)."""
    for sweep_dir in list(_open_sweeps):
        close_sweep(sweep_dir)


def close_sweep(sweep_dir: str) -> None:
    """Write the sweep report, end the parent run (FINISHED when every planned job finished, else FAILED) and print
    where everything is, with the command that re-runs what is missing."""
    from harness.tracking.sweep_jobs import job_states

    opened = _open_sweeps.pop(sweep_dir, None)
    path = parent_run_file(sweep_dir)
    if opened is None or not path.is_file():
        return
    parent = path.read_text().strip()
    tracker = _tracker(opened["tracking"])
    states = job_states(parent, tracker.uri, ended=True)  # every job the launcher started has returned
    decided = _attach_sweep_report(parent, tracker.uri, Path(sweep_dir), states)
    unfinished = [state for state in states if state.status != "finished"]
    for killed in (state for state in unfinished if state.status == "missing" and state.run_id):
        tracker.finish(killed.run_id, "KILLED")  # its process died (SIGKILL) before it could mark its own run
    tracker.finish(parent, "FAILED" if unfinished else "FINISHED")
    report = Path(sweep_dir) / "sweep_report.html"
    shown = report if report.is_file() else "(not written, see the warning above)"
    lines = [f"sweep_folder: {sweep_dir}", f"sweep_report: {shown}", f"mlflow_parent_run: {parent}",
             f"tracking_uri: {tracker.uri}", f"jobs_finished: {len(states) - len(unfinished)} of {len(states)}"]
    lines += [f"  {state.status}: {state.overrides}" + (f" ({state.error})" if state.error else "") for state in unfinished]
    if unfinished:
        lines.append(f"re-run what is missing: {opened['resubmit']}")
    print("\n".join([*decided, *lines]), flush=True)


def _task_overrides(config: DictConfig) -> list[str]:
    """The command line's overrides as typed: an interpolation in one (``${oc.env:X}``) stays unresolved."""
    return OmegaConf.to_container(config.hydra.overrides.task, resolve=False)


def _resubmit_command(config: DictConfig, sweep_dir: Path) -> str:
    """The command that re-submits this sweep into its folder (finished jobs are then skipped)."""
    import shlex

    hydra_overrides = OmegaConf.to_container(config.hydra.overrides.hydra, resolve=False)
    kept = [o for o in hydra_overrides if not o.startswith("hydra.sweep.dir=")]
    arguments = [*_task_overrides(config), *kept, f"hydra.sweep.dir={sweep_dir}"]
    return "harness run -m " + " ".join(shlex.quote(argument) for argument in arguments)


def _attach_sweep_report(parent: str, uri: str, sweep_dir: Path, states: list[Any]) -> list[str]:
    """Compare the sweep's jobs on one page, logged to the parent run, and return the decision's short table for the
    terminal; a report failure never fails the sweep."""
    from reports.sweep_decision import decision_lines
    from reports.sweep_report import build_recorded_sweep_report, log_to_parent

    try:
        report, decision = build_recorded_sweep_report(parent, uri, sweep_dir / "sweep_report.html", required=False,
                                                       states=states)
        log_to_parent(parent, report, uri)
        return decision_lines(decision) if decision is not None else []
    except Exception as error:  # noqa: BLE001 - the jobs' runs are recorded already; say why the page is missing
        log.warning("sweep report not written: %s: %s", type(error).__name__, error)
        return []
