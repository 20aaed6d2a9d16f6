"""Concurrency benchmark of the tracking store: N jobs recording their runs at once.

    harness bench tracking --jobs 8,16                      # a fresh SQLite store in a temp folder
    harness bench tracking --jobs 8,16 --tracking-uri http://127.0.0.1:5000 --tracking-uri sqlite:///outputs/bench.db
    harness bench tracking --jobs 8 --unlocked              # SQLite stores also without the Tracker's file lock

Each job is its own process. It imports MLflow and writes its artifacts, then waits for the others;
then all record at once what a harness job records, through the harness's ``Tracker``: the
experiment (looked up; created by whichever job comes first), a run with a job's tags, 200 params (a
flattened config), 80 final metrics, 300 system-metric samples (5 metrics x 60 steps), a folder of
artifacts (per_chart_scores.jsonl, metrics.json, report.html), and the run's end. Every round (store,
lock, N) uses a fresh experiment, so the counts are exact.

Afterwards every run is read back through ``MlflowClient``. A run counts as recorded when it is
FINISHED with every param and metric at its value, every sample of its history and every artifact
(downloaded, same bytes). Errors are the exceptions the jobs raised (their first lines are listed
under the table) and jobs that died or hung. Wall seconds run from the common start to the last job's
end. A SQLite store is created before the first round (schema), so rounds measure steady state.

``--unlocked`` runs each SQLite round also with the Tracker's file lock bypassed (the same code, the
lock path unset): what parallel jobs would do to a SQLite store without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.run_record import METRICS_FILE, REPORT_FILE, SCORES_FILE

N_PARAMS = 200
N_METRICS = 80
SYSTEM_METRICS = ("cpu_utilization_percentage", "system_memory_usage_megabytes", "system_memory_usage_percentage",
                  "disk_usage_megabytes", "network_receive_megabytes")
N_STEPS = 60
ARTIFACTS = (SCORES_FILE, METRICS_FILE, REPORT_FILE)
READY, RESULT = "BENCH-READY", "BENCH-RESULT "


# --- what one job records (deterministic from its index, so the reader knows what to expect) ---

def job_params(index: int) -> dict[str, str]:
    """``N_PARAMS`` flattened config entries, as ``flatten(config)`` gives a job's params."""
    sections = ("dataset", "extractor", "rules", "routing", "degradation", "intake", "evaluation", "pipeline", "tracking",
                "audit")
    return {f"{sections[i % len(sections)]}.field_{i:03d}": f"value-{index}-{i}" for i in range(N_PARAMS)}


def job_metrics(index: int) -> dict[str, float]:
    """``N_METRICS`` final metrics."""
    return {"micro_f1": 0.5 + index / 1000, **{f"metric_{i:02d}": index + i / 100 for i in range(N_METRICS - 1)}}


def job_history(index: int, start_ms: int) -> list:
    """System-metric samples: ``len(SYSTEM_METRICS)`` metrics x ``N_STEPS`` steps."""
    from harness.tracking.system_metrics import Sample

    return [Sample(f"system/{name}", float(index * 1000 + step + k), start_ms + step * 2000, step)
            for step in range(N_STEPS) for k, name in enumerate(SYSTEM_METRICS)]


def job_tags(index: int, experiment: str) -> dict[str, str]:
    return {"harness.kind": "job", "dataset": "sample", "dataset.split": "dev", "dataset.digest": "bench",
            "extractor": "dictionary", "rules": "icd10cm_2026_v2", "bench.job": str(index), "bench.round": experiment}


def job_artifacts(index: int) -> dict[str, bytes]:
    """Small files like a job's: per-chart scores, metrics, an HTML report."""
    rows = "".join(json.dumps({"chart_id": f"c{i:03d}", "tp": i % 3, "fp": i % 2, "fn": 1, "exact_match": i % 4 == 0})
                   + "\n" for i in range(40))
    return {SCORES_FILE: rows.encode(), METRICS_FILE: json.dumps(job_metrics(index), indent=2).encode(),
            REPORT_FILE: f"<!doctype html><title>job {index}</title><p>{'x' * 4000}</p>".encode()}


def child() -> None:
    """One job, in its own process: ``python -c 'from harness.benchmarks.tracking import child; child()' SPEC``."""
    spec = json.loads(sys.argv[1])
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    index, folder = spec["index"], Path(spec["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in job_artifacts(index).items():
        (folder / name).write_bytes(content)
    tracker = Tracker(TrackingConfig(uri=spec["uri"], experiment=spec["experiment"]))
    if not spec["lock"]:
        tracker._lock_path = None  # the same Tracker, without the file lock that serializes SQLite writes
    tracker._get_client()  # MLflow imported before the start, as in a job that has run its pipeline
    import mlflow.entities  # noqa: F401

    print(READY, flush=True)
    sys.stdin.readline()  # the common start
    started = time.perf_counter()
    run_id, error = None, None
    try:
        run_id = tracker.start_run(f"bench-job-{index}", job_tags(index, spec["experiment"]))
        tracker.log(run_id, params=job_params(index), metrics=job_metrics(index),
                    history=job_history(index, int(time.time() * 1000)))
        tracker.log_artifacts(run_id, folder)
        tracker.finish(run_id)
    except Exception as failure:  # noqa: BLE001 - counted and reported, whatever it is
        error = first_line(failure)
    print(RESULT + json.dumps({"index": index, "run_id": run_id, "error": error,
                               "seconds": time.perf_counter() - started}), flush=True)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".strip().rstrip(":")[:300]


# --- one round: N jobs at once, then the read-back ---

@dataclass
class Round:
    store: str
    lock: str
    jobs: int
    started: int = 0
    recorded: int = 0
    errors: list[str] = field(default_factory=list)
    """First lines of the jobs' exceptions, and of jobs that died or hung."""
    problems: list[str] = field(default_factory=list)
    """What the read-back found missing: a run not in the store, or what a run lacks."""
    wall_s: float = 0.0


def run_round(uri: str, n: int, lock: bool, experiment: str, folder: Path, timeout_s: float = 600.0,
              label: str | None = None) -> Round:
    """Start ``n`` jobs, release them at once, collect what they say, then read their runs back."""
    from harness.tracking.server import mask_uri

    sqlite = uri.startswith("sqlite:")
    result = Round(store=label or mask_uri(uri), lock=("file lock" if lock else "none") if sqlite else "-", jobs=n)
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    processes = []
    for index in range(n):
        spec = {"uri": uri, "experiment": experiment, "index": index, "lock": lock, "folder": str(folder / f"job-{index}")}
        with open(folder / f"job-{index}.err", "w") as stderr:
            processes.append(subprocess.Popen(
                [sys.executable, "-c", "from harness.benchmarks.tracking import child; child()", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env))
    watchdog = threading.Timer(timeout_s, lambda: [p.kill() for p in processes if p.poll() is None])
    watchdog.start()
    try:
        ready = [_read_until(p, READY) is not None for p in processes]
        started = time.perf_counter()
        for process, is_ready in zip(processes, ready):
            if is_ready:
                process.stdin.write("go\n")
                process.stdin.flush()
        answers = [_read_until(p, RESULT) if is_ready else None for p, is_ready in zip(processes, ready)]
        result.wall_s = time.perf_counter() - started
        for process in processes:
            process.wait()
    finally:
        watchdog.cancel()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    run_ids = {}
    for index, (process, answer) in enumerate(zip(processes, answers)):
        if answer is None:
            result.errors.append(f"job process gave no result (exit status {process.returncode}): "
                                 f"{_last_line(folder / f'job-{index}.err')}")
            continue
        outcome = json.loads(answer[len(RESULT):])
        if outcome["run_id"]:
            result.started += 1
            run_ids[index] = outcome["run_id"]
        if outcome["error"]:
            result.errors.append(outcome["error"])
    result.recorded, result.problems = verify(uri, experiment, run_ids, folder / "read-back")
    return result


def _read_until(process: subprocess.Popen, marker: str) -> str | None:
    """The first stdout line of ``process`` that starts with ``marker``; None when it ends first."""
    for line in iter(process.stdout.readline, ""):
        if line.startswith(marker):
            return line.strip()
    return None


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()] if path.is_file() else []
    return lines[-1][:300] if lines else "no output"


def verify(uri: str, experiment: str, run_ids: dict[int, str], folder: Path) -> tuple[int, list[str]]:
    """How many of the jobs' runs are complete in the store, and what is wrong with the others (one line each).

    Runs are found by searching the round's experiment, so a run that a job reported but the store lost counts as
    missing, and every run found must be one of the jobs'."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=1000) if found is not None else []
    by_job = {int(run.data.tags.get("bench.job", -1)): run for run in runs}
    complete, problems = 0, []
    for index, run_id in sorted(run_ids.items()):
        run = by_job.get(index)
        if run is None or run.info.run_id != run_id:
            problems.append(f"run of job {index} not in the store")
            continue
        wrong = _incomplete(client, run, index, folder / f"job-{index}")
        if wrong:
            problems.append(f"run of job {index} incomplete: {wrong}")
        else:
            complete += 1
    return complete, problems


def _incomplete(client, run, index: int, folder: Path) -> str | None:
    """What the run lacks (the first thing found), or None when it holds everything the job logged."""
    if run.info.status != "FINISHED":
        return f"status {run.info.status}"
    if run.data.params != job_params(index):
        return f"{len(run.data.params)} of {N_PARAMS} params"
    history = job_history(index, 0)
    expected = {**job_metrics(index), **{s.name: s.value for s in history if s.step == N_STEPS - 1}}
    if run.data.metrics != expected:
        return f"{len(set(run.data.metrics) & set(expected))} of {len(expected)} metrics"
    for name in SYSTEM_METRICS:
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, f"system/{name}"))
        if steps != list(range(N_STEPS)):
            return f"{len(steps)} of {N_STEPS} samples of system/{name}"
    folder.mkdir(parents=True, exist_ok=True)
    local = Path(client.download_artifacts(run.info.run_id, "", str(folder)))
    for name, content in job_artifacts(index).items():
        if not (local / name).is_file() or (local / name).read_bytes() != content:
            return f"artifact {name} missing or different"
    return None


def prepare_store(uri: str) -> None:
    """Create a SQLite store's schema before any round (MLflow makes it on first use)."""
    if uri.startswith("sqlite:///"):
        from mlflow.tracking import MlflowClient

        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness bench tracking", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:5]))
    parser.add_argument("--jobs", default="8,16", help="parallel jobs per round, comma-separated (default 8,16)")
    parser.add_argument("--tracking-uri", action="append", default=[], metavar="URI",
                        help="a store to measure (sqlite:///..., http://host:port); repeatable; default a fresh SQLite store")
    parser.add_argument("--unlocked", action="store_true", help="SQLite stores: also run every round without the file lock")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a round may take before its jobs are killed")
    args = parser.parse_args(argv)
    try:
        counts = [int(n) for n in args.jobs.split(",")]
    except ValueError:
        parser.error(f"--jobs takes numbers joined by commas, not {args.jobs!r}")
    if not counts or min(counts) < 1:
        parser.error("--jobs takes at least one positive number")

    from rich.console import Console
    from rich.table import Table

    from harness.tracking.mlflow_store import resolve_uri

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    scratch = Path(tempfile.mkdtemp(prefix="harness-bench-tracking-"))
    uris = [resolve_uri(uri) for uri in args.tracking_uri] or [f"sqlite:///{scratch / 'store' / 'mlflow.db'}"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rounds: list[Round] = []
    console = Console(width=150)
    try:
        for s, uri in enumerate(uris):
            prepare_store(uri)
            for n in counts:
                for lock in (True, False) if args.unlocked and uri.startswith("sqlite:") else (True,):
                    experiment = f"bench-tracking-{stamp}-s{s}-n{n}-{'lock' if lock else 'nolock'}"
                    folder = scratch / experiment
                    folder.mkdir()
                    label = None if args.tracking_uri else "sqlite (a fresh store)"
                    rounds.append(run_round(uri, n, lock, experiment, folder, args.timeout, label))
                    done = rounds[-1]
                    console.print(f"{done.store} lock={done.lock} N={n}: {done.recorded} of {done.started} started runs "
                                  f"recorded, {len(done.errors)} errors, {done.wall_s:.1f} s", highlight=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    table = Table(title="Tracking store under parallel jobs: runs recorded complete / runs started", title_justify="left")
    for column in ("store", "lock", "jobs", "runs started", "runs recorded", "errors", "wall s", "recorded runs/s"):
        table.add_column(column, justify="left" if column in ("store", "lock") else "right")
    for r in rounds:
        table.add_row(r.store, r.lock, str(r.jobs), str(r.started), str(r.recorded), str(len(r.errors)), f"{r.wall_s:.2f}",
                      f"{r.recorded / r.wall_s:.2f}" if r.wall_s > 0 else "")
    console.print(table)
    for r in rounds:
        for kind, lines in (("error", r.errors), ("incomplete", r.problems)):
            for message, count in Counter(lines).most_common():
                console.print(f"  {r.store} lock={r.lock} N={r.jobs}: {kind}: {count} x {message}", highlight=False,
                              soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
