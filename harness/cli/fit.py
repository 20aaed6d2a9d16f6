"""Fit the reference model on CodiEsp and save it as a versioned artifact.

    harness fit --language es --codes D                       # train -> codiesp_es_D_train
    harness fit --language es --codes D --refit-on train,dev  # final artifact (settings chosen on dev)
    harness fit --language en --codes P --limit 40 --out /tmp/ref-slice
    harness fit --language es --codes D --set use_reranker=false --name es_D_no_reranker
    harness fit --language es --codes P --threads 2   # alone on a machine: more threads for the re-ranker

Reads ``$HARNESS_DATA_DIR/codiesp`` (or ``--data-dir``); writes the artifact (``manifest.json``, and the model as
data: ``model.json`` and ``model.npz``, never a pickle; see ``extractors.reference.artifact``) under
``<cache>/reference/<name>`` unless ``--out`` names a folder. ``--tracking-uri`` also logs the
artifact folder, settings and timings to an MLflow run. Prints the artifact's folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import USAGE_ERROR


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set takes key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parser() -> argparse.ArgumentParser:
    """The options of ``harness fit``."""
    p = argparse.ArgumentParser(prog="harness fit", description=__doc__.split("\n\n")[0])
    p.add_argument("--language", choices=["es", "en"], required=True, help="chart language (CodiEsp text_files or text_files_en)")
    p.add_argument("--codes", choices=["D", "P"], default="D", help="CodiEsp sub-track: D diagnoses, P procedures")
    p.add_argument("--refit-on", default="train", help="comma-separated splits to fit on (default: train)")
    p.add_argument("--limit", type=int, default=None, help="fit on the first N charts of each split (a slice, for tests)")
    p.add_argument("--data-dir", default=None, help="folder holding codiesp/ (default: $HARNESS_DATA_DIR)")
    p.add_argument("--out", type=Path, default=None, help="artifact folder (default: <cache>/reference/<name>)")
    p.add_argument("--name", default=None, help="artifact name under the cache (default: codiesp_<language>_<codes>_<splits>)")
    p.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="override a fit setting of extractors.reference.settings.ReferenceSettings (repeatable)")
    p.add_argument("--tracking-uri", default=None, help="also log the artifact to this MLflow store")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="most OpenMP/BLAS threads of the fit (default: 1, fastest when other processes share the cores: "
                        "with more, every short parallel region waits for descheduled threads). Fits with the same N are "
                        "identical; with another N the chart classifier's weights may differ in their last bits (BLAS "
                        "splits its sums by thread)")
    return p


def log_to_mlflow(folder: Path, tracking_uri: str) -> str:
    """One MLflow run holding the artifact folder, its settings as params and its timings as metrics."""
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker, flatten

    manifest = json.loads((folder / "manifest.json").read_text())
    tracker = Tracker(TrackingConfig(uri=tracking_uri))
    run_id = tracker.start_run(f"fit-reference-{folder.name}", tags={
        "harness.kind": "fit_reference", "reference.data_digest": manifest["training"]["data_digest"],
        "reference.model_sha256": manifest["model_sha256"]})
    tracker.log(run_id, params=flatten({"settings": manifest["settings"], "training": manifest["training"]}),
                metrics=manifest["timings"])
    tracker.log_artifacts(run_id, folder)
    tracker.finish(run_id)
    return run_id


def main(argv: Sequence[str]) -> int:
    """Fit, save, optionally record in MLflow, print the folder; 2 on bad data, settings or threads."""
    args = parser().parse_args(argv)
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return USAGE_ERROR
    from extractors.reference.artifact import ArtifactError
    from extractors.reference.fit import fit_artifact, log
    from harness.sources import DataError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    splits = [s.strip() for s in args.refit_on.split(",") if s.strip()]
    try:
        folder, _ = fit_artifact(args.language, args.codes, splits, limit=args.limit, data_dir=args.data_dir, out=args.out,
                                 name=args.name, settings=dict(args.settings), threads=args.threads)
    except (DataError, ArtifactError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.tracking_uri:
        log.info("logged to MLflow run %s", log_to_mlflow(folder, args.tracking_uri))
    print(folder)
    return 0
