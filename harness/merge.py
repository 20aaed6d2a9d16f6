"""``harness merge <parent run>``: the shards of a sharded sweep as one run, scored as an unsharded run would be.

A sweep over ``dataset.shard`` (``harness run -m dataset.num_shards=4 dataset.shard=0,1,2,3 ...``; one SLURM array task
per shard with ``hydra/launcher=slurm_gpu``) leaves one job run per shard under the sweep's parent run. ``merge``:

1. takes the parent's finished job runs and checks that they are one complete shard set (:func:`check_shard_set`): the
   same ``dataset.num_shards`` everywhere, shards 0 to N-1 each exactly once, the same config apart from
   ``dataset.shard`` (every param but :data:`RUN_LOCAL_PARAMS`), the same code, rule pack, extractor and calibrator
   (:data:`SAME_TAGS`, and the extractor as each run recorded it after learning), and none redacted: artifacts written
   with ``tracking.redact=true`` hold no evidence or finding text, so the evidence metrics could not be computed again
   and the merge refuses them (run the shards with ``tracking.redact=false``);
2. reads the dataset again as one unsharded run would (the shards' config with ``dataset.num_shards=1``) and checks that
   each shard's charts are still those it evaluated (same ids, same ``dataset.digest``), else the dataset changed since;
3. rebuilds the run in the unsharded chart order from each shard's ``chart_results.jsonl`` and ``chart_pipeline.jsonl``
   (``harness.pipeline.recorded_run``) and scores and records it with the job's own ``score`` and ``record``. Metrics,
   bootstrap intervals, artifacts and report equal an unsharded run's on the same charts, except what measures the
   machine (``harness.metrics.registry.measures_the_machine``). Those are derived as if one engine had run the shards
   one after another: ``wall_s`` is the sum of the shards' pipeline seconds, so ``charts_per_s`` (and the capacity
   figures and cost built on it) is one engine's throughput, not the cluster's; latency percentiles and ``stage_*_s``
   come from the charts' own timings; peak memory and GPU count are the largest shard's, mean GPU use the shards'
   weighted by their seconds.

Any problem exits with status 2 and names it (``missing shard 2 of 4``, ``shard 1 of 4 recorded twice (runs a, b)``,
``run x has dataset.num_shards=3 but the others 4``, ``run y differs from run x in rules.name: ...``).

Where the merged run sits: a new top-level run (not a child of the sweep: the sweep's jobs stay exactly its shards),
tagged ``harness.kind=job`` like any job, with ``harness.merge_of=<parent>``, ``harness.merged_from=<shard run ids>``
and ``harness.merged_shards=<N>``; its config and params are the unsharded job's (``dataset.num_shards=1``). It starts
when the merge runs, after every shard, so ``harness gate --candidate latest`` gates it (run the merge before the gate:
until then ``latest`` is the last shard). The merge is a job (it scores and records a run with
the job's own functions), so it sits above the job; the command is ``harness.cli.merge``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.job_config import JobConfig
    from harness.pipeline.recorded_run import PipelineRecord

RUN_LOCAL_PARAMS = frozenset({"dataset.shard", "engine.engine_starts_in_process"})
"""Params that may differ between the shards of one sweep: which shard, and how many engines that job's process started."""
SAME_TAGS = ("dataset", "dataset.split", "rules.pack", "rules.version", "extractor", "extractor.version", "degradation",
             "calibration", "git_commit")
"""Tags every shard must share: the code, rule pack version, extractor version and calibrator behind its results."""
_SHOWN_DIFFERENCES = 3


class MergeRefused(HarnessError):
    """The runs are not one complete, consistent shard set, or cannot be rebuilt: the message names the problem."""


@dataclass(frozen=True)
class ShardRun:
    """A finished job run under the parent, as the store lists it."""

    run_id: str
    params: Mapping[str, str]
    tags: Mapping[str, str]

    def _int_param(self, key: str, default: int) -> int:
        try:
            return int(self.params.get(key, default))
        except ValueError:
            raise MergeRefused(f"run {self.run_id} records {key}={self.params[key]!r}, not a number") from None

    @property
    def num_shards(self) -> int:
        return self._int_param("dataset.num_shards", 1)

    @property
    def shard(self) -> int:
        return self._int_param("dataset.shard", 0)


def _differences(reference: ShardRun, other: ShardRun) -> list[str]:
    keys = sorted((set(reference.params) | set(other.params)) - RUN_LOCAL_PARAMS)
    params = [f"{key}: {reference.params.get(key)!r} vs {other.params.get(key)!r}" for key in keys
              if reference.params.get(key) != other.params.get(key)]
    tags = [f"tag {key}: {reference.tags.get(key)!r} vs {other.tags.get(key)!r}" for key in SAME_TAGS
            if reference.tags.get(key) != other.tags.get(key)]
    return params + tags


def check_shard_set(runs: Sequence[ShardRun], parent: str = "the parent run") -> list[ShardRun]:
    """The runs in shard order, when they are one complete, consistent shard set; else ``MergeRefused`` listing every
    problem found."""
    if not runs:
        raise MergeRefused(f"{parent} has no finished job runs: pass the parent run of a sharded sweep "
                           "(the sweep prints it as mlflow_parent_run)")
    if all(run.num_shards == 1 for run in runs):
        raise MergeRefused(f"the {len(runs)} job run(s) under {parent} are not sharded (dataset.num_shards=1): nothing to merge")
    problems = []
    counts = Counter(run.num_shards for run in runs).most_common()
    expected = counts[0][0]
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        groups = defaultdict(list)
        for run in runs:
            groups[run.num_shards].append(run.run_id)
        problems.append("the runs disagree on dataset.num_shards: "
                        + ", ".join(f"{n} (runs {', '.join(ids)})" for n, ids in sorted(groups.items())))
    else:
        problems += [f"run {run.run_id} has dataset.num_shards={run.num_shards} but the others {expected}"
                     for run in runs if run.num_shards != expected]
    members = [run for run in runs if run.num_shards == expected]
    by_shard: dict[int, list[ShardRun]] = defaultdict(list)
    for run in members:
        by_shard[run.shard].append(run)
    for shard, found in sorted(by_shard.items()):
        if len(found) > 1:
            times = "twice" if len(found) == 2 else f"{len(found)} times"
            problems.append(f"shard {shard} of {expected} recorded {times} (runs {', '.join(r.run_id for r in found)})")
    missing = [shard for shard in range(expected) if shard not in by_shard]
    if missing:
        problems.append(f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {expected} (no "
                        "finished job run with that dataset.shard: re-submit the sweep into its folder to run what is missing)")
    ordered = sorted(members, key=lambda run: run.shard)
    for other in ordered[1:]:
        differences = _differences(ordered[0], other)
        if differences:
            more = len(differences) - _SHOWN_DIFFERENCES
            problems.append(f"run {other.run_id} differs from run {ordered[0].run_id} in "
                            + "; ".join(differences[:_SHOWN_DIFFERENCES]) + (f" (and {more} more)" if more > 0 else ""))
    redacted = [run.run_id for run in members if run.params.get("tracking.redact") == "True"]
    if redacted:
        problems.append(f"run{'s' if len(redacted) > 1 else ''} {', '.join(redacted)} recorded with tracking.redact=true: "
                        "redacted artifacts hold no evidence text, so the merged run's evidence metrics could not be "
                        "computed again; run the shards with tracking.redact=false")
    if problems:
        raise MergeRefused(f"cannot merge the shards under {parent}: " + "; ".join(problems)
                           + " (a merge takes one sweep over dataset.shard alone)")
    return ordered


def shard_runs(parent: str, uri: str) -> list[ShardRun]:
    """The finished job runs under ``parent`` (oldest first)."""
    from harness.tracking.run_store import child_runs, get_run

    found = [get_run(run_id, uri) for run_id in child_runs(parent, uri, required=False)]
    return [ShardRun(run.info.run_id, dict(run.data.params), dict(run.data.tags)) for run in found
            if run.data.tags.get("harness.kind") == "job"]


def merged_system(shards: Sequence[Mapping[str, float]], seconds: Sequence[float]) -> dict[str, float]:
    """The run-level system figures of shards that recorded ``shards`` metrics over ``seconds`` of pipeline each: GPU
    count and peaks are the largest shard's; mean GPU use is the shards' means weighted by their seconds."""
    merged: dict[str, float] = {}
    for name in ("gpu_count", "system_memory_peak_mb", "gpu_memory_peak_mb"):
        values = [metrics[name] for metrics in shards if name in metrics]
        if values:
            merged[name] = max(values)
    used = [(metrics["gpu_utilization_mean_pct"], wall) for metrics, wall in zip(shards, seconds, strict=True)
            if "gpu_utilization_mean_pct" in metrics]
    if used and sum(wall for _, wall in used) > 0:
        merged["gpu_utilization_mean_pct"] = sum(value * wall for value, wall in used) / sum(wall for _, wall in used)
    return merged


def _merged_config(config: Mapping[str, Any], uri: str, experiment: str | None) -> dict[str, Any]:
    """The shards' composed config as one unsharded job's, recorded into the store at ``uri``."""
    merged = {key: dict(value) if isinstance(value, Mapping) else value for key, value in config.items()}
    merged["dataset"].update(num_shards=1, shard=0)
    merged["tracking"]["uri"] = uri
    if experiment:
        merged["tracking"]["experiment"] = experiment
    return merged


def _common_overrides(shards: Sequence[ShardRun]) -> tuple[str, ...]:
    words = shards[0].tags.get("harness.overrides", "").split()
    return tuple(w for w in words if not w.startswith(("dataset.shard=", "dataset.num_shards=")))


def _check_charts(job: JobConfig, charts: Sequence[Any], shards: Sequence[ShardRun], records: Sequence[PipelineRecord]) -> None:
    """Each shard's charts, drawn again from the dataset as it is now, are the ones it evaluated."""
    from harness.sources import dataset_digest, shard_charts

    for shard in shards:
        record = records[shard.shard]
        now = shard_charts(charts, shard.num_shards, shard.shard)
        evaluated = [result.chart_id for result in record.run.results]
        if [c.id for c in now] != evaluated or dataset_digest(now) != shard.tags.get("dataset.digest"):
            raise MergeRefused(
                f"the dataset changed since the shards ran: shard {shard.shard} (run {shard.run_id}) evaluated "
                f"{len(evaluated)} charts (dataset.digest {shard.tags.get('dataset.digest')}), dataset "
                f"{job.dataset.name!r} split {job.dataset.split!r} now gives it {len(now)} (digest {dataset_digest(now)}): "
                "run the sweep again")


@dataclass(frozen=True)
class Merged:
    run_id: str | None
    """The merged run (None when tracking is off in the shards' config)."""
    report: str
    run_folder: str


def merge(parent: str, uri: str, experiment: str | None = None, output_dir: Path | None = None) -> Merged:
    """Check the shards under ``parent`` (store ``uri``), rebuild their run and record it (see the module docstring)."""
    import json
    import shutil
    import tempfile
    import time

    from harness.job_config import JobConfig
    from harness.job_identity import JobIdentity
    from harness.pipeline.chart_steps import PipelineDesign
    from harness.pipeline.recorded_run import combined, read_pipeline_record
    from harness.recording import record
    from harness.run import Built, Ran, outcomes_of, score
    from harness.run_record import CALIBRATOR_FILE, RunFolder
    from harness.sources import load_split
    from harness.tracking.mlflow_store import Tracker
    from harness.tracking.run_store import load_run
    from harness.trust.calibration import Calibrator

    shards = check_shard_set(shard_runs(parent, uri), f"run {parent}")
    folder = Path(tempfile.mkdtemp(prefix=f"harness-merge-{parent[:8]}-"))
    try:
        recorded = [load_run(shard.run_id, uri, into=folder / shard.run_id) for shard in shards]
        records = []
        for shard, run in zip(shards, recorded, strict=True):
            engine = {k.removeprefix("engine."): v for k, v in shard.params.items() if k.startswith("engine.")}
            try:
                records.append(read_pipeline_record(run.folder, engine))
            except FileNotFoundError as error:
                raise MergeRefused(f"run {shard.run_id} (shard {shard.shard}) cannot be rebuilt: {error} (recorded by a "
                                   "harness before shard merging: run that shard again)") from None
        identities = {json.dumps(r.extractor.identity(), sort_keys=True) for r in records}
        if len(identities) > 1:
            raise MergeRefused(f"the shards under run {parent} ran different extractors (name, version, model or what it "
                               f"learned): {' vs '.join(sorted(identities))}")
        if any(r.redacted for r in records):
            raise MergeRefused(f"shards under run {parent} were recorded redacted: their evidence metrics cannot be computed "
                               "again")
        config = _merged_config(recorded[0].artifacts.config(), uri, experiment)
        job = JobConfig.from_composed(config)
        loaded = load_split(job.dataset)
        charts = loaded.charts
        _check_charts(job, charts, shards, records)
        runs = [r.run for r in records]
        run = combined(runs, [c.id for c in charts])
        calibrator_id = shards[0].tags.get("calibration", "none")
        calibrator_file = recorded[0].artifacts.file(CALIBRATOR_FILE)
        extractor = records[0].extractor
        pack = _Pack(shards[0].tags.get("rules.pack", job.rules.name), shards[0].tags.get("rules.version", ""))
        design = PipelineDesign(extractor=extractor, code=_not_run, coder_id=f"{pack.name}@{pack.version}", route=_not_run,
                                router_id=job.routing.name, calibrator_id="" if calibrator_id == "none" else calibrator_id)
        tracker = Tracker(job.tracking) if job.tracking.enabled else None
        if tracker is not None:
            tracker.check()
        built = Built(design=design, extractor=extractor, pack=pack, preparer=None, tracker=tracker)
        ran = Ran(charts=charts, labelled=job.dataset.is_labelled(charts), skipped=loaded.skipped, run=run, design=design,
                  calibrator=Calibrator.load(calibrator_file) if calibrator_file.is_file() else None, history=[],
                  system=merged_system([r.metrics for r in recorded], [r.wall_s for r in runs]))
        outcomes = outcomes_of(job, ran)
        metrics, curves = score(job, ran, outcomes)
        common = _common_overrides(shards)
        identity = JobIdentity(overrides=common, name=f"{JobIdentity(overrides=common).run_name(job)} [merged {len(shards)} "
                                                      "shards]",
                               tags={"harness.merge_of": parent, "harness.merged_shards": str(len(shards)),
                                     "harness.merged_from": ",".join(shard.run_id for shard in shards)})
        out = (output_dir or Path("outputs") / "merges" / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{parent[:8]}").resolve()
        written = record(job, config, built, ran, outcomes, metrics, curves, RunFolder(out), identity)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Merged(run_id=written.get("mlflow_run"), report=written["report"], run_folder=str(out))


@dataclass(frozen=True)
class _Pack:
    """The rule pack as the shards' tags name it (the merged run codes nothing)."""

    name: str
    version: str


def _not_run(*args: Any) -> Any:
    raise RuntimeError("a merged run codes and routes nothing: its results come from the shards")
