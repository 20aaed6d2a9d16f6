"""Fit the reference model on CodiEsp and save it as a versioned artifact.

    harness fit --language es --codes D                       # train -> codiesp_es_D_train
    harness fit --language es --codes D --refit-on train,dev  # final artifact (settings chosen on dev)
    harness fit --language en --codes P --limit 40 --out /tmp/ref-slice
    harness fit --language es --codes D --set use_reranker=false --name es_D_no_reranker
    harness fit --language es --codes P --threads 2   # alone on a machine: more threads for the re-ranker

Reads ``$HARNESS_DATA_DIR/codiesp`` (or ``--data-dir``); writes under
``<cache>/reference/<name>`` unless ``--out`` names a folder. ``--tracking-uri`` also logs the
artifact folder, settings and timings to an MLflow run. Prints the artifact's folder.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("extractors.reference.fit")


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set takes key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parser() -> argparse.ArgumentParser:
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


def fit_artifact(language: str, codes: str, splits: list[str], *, limit: int | None = None, data_dir: str | None = None,
                 out: Path | None = None, name: str | None = None, settings: dict | None = None,
                 threads: int | None = 1, progress: bool = True) -> tuple[Path, Any]:
    """Fit on the given CodiEsp splits and save the artifact; returns its folder and the fitted ``ReferenceModel``.

    ``threads`` caps the OpenMP and BLAS thread pools during the fit (None: the libraries' default, one per core;
    1 by default: the fit is mostly Python and short library calls, which more threads slow down as soon as other
    processes share the cores, see ``extractors.reference.extractor.ReferenceConfig.threads``). The artifact is the
    same for the same ``threads``, bit for bit; with another count, liblinear's BLAS sums (split by thread once the
    classifier's vocabulary is large) can move the classifier's weights by about 1e-14. With
    ``progress``, a bar on stderr (off when stderr is not a terminal) names the step under way: loading each
    split, fitting, saving.
    """
    from tqdm import tqdm

    from extractors.reference.artifact import CODES, artifact_name, resolve, save_artifact
    from extractors.reference.model import ReferenceModel, model_threads
    from extractors.reference.settings import VERSION, ReferenceSettings
    from harness.config import DatasetConfig
    from harness.sources import dataset_digest, load_charts

    fit_settings = ReferenceSettings.model_validate(settings or {})
    system = CODES[codes]
    # Steps of very different lengths: no rate or time left, which would mislead.
    bar = tqdm(total=len(splits) + 2, desc="fit reference", bar_format="{desc}: step {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
               disable=None if progress else True)
    started = time.perf_counter()
    by_split = {}
    for split in splits:
        bar.set_postfix_str(f"loading {split}")
        config = DatasetConfig(name=f"codiesp_{language}", split=split, limit=limit, data_dir=data_dir,
                               code_systems=[system], unknown_gold_codes="keep", code_set_year=fit_settings.code_set_year)
        by_split[split] = load_charts(config)
        bar.update()
    charts = [c for split in splits for c in by_split[split]]
    load_s = time.perf_counter() - started
    log.info("fitting the reference model on %d %s charts (%s, %s)", len(charts), language, "+".join(splits), system)
    bar.set_postfix_str(f"fitting on {len(charts)} charts (minutes)")
    started = time.perf_counter()
    with model_threads(threads):
        model = ReferenceModel(fit_settings, language, system).fit(charts)
    fit_s = time.perf_counter() - started
    bar.update()
    folder = out or resolve(name or artifact_name(language, codes, splits))
    manifest = {
        "version": VERSION,
        "language": language,
        "codes": codes,
        "code_system": system,
        "code_set": {
            "system": system,
            "year": fit_settings.code_set_year,
            "note": "codes as CodiEsp annotates them (CIE-10-ES 2018); ICD-10-CM terms of this year for English "
                    "charts, Spanish ICD-10 titles mapped onto it for Spanish ones",
            "packages": {name: importlib.metadata.version(name) for name in ("simple-icd-10-cm", "cie")},
        },
        "training": {
            "dataset": f"codiesp_{language}",
            "splits": splits,
            "limit": limit,
            "charts": len(charts),
            "data_digest": dataset_digest(charts),
            "split_digests": {split: dataset_digest(by_split[split]) for split in splits},
        },
        "settings": fit_settings.model_dump(mode="json"),
        "timings": {"load_s": round(load_s, 2), "fit_s": round(fit_s, 2),
                    **{k: round(v, 2) for k, v in model.timings.items()}},
    }
    bar.set_postfix_str("saving")
    save_artifact(folder, model, manifest)
    bar.update()
    bar.close()
    log.info("saved %s (fit %.0f s)", folder, fit_s)
    return folder, model


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


def main(argv: list[str] | None = None) -> int:
    from extractors.reference.artifact import ArtifactError
    from harness.sources import DataError

    args = parser().parse_args(argv)
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    splits = [s.strip() for s in args.refit_on.split(",") if s.strip()]
    try:
        folder, _ = fit_artifact(args.language, args.codes, splits, limit=args.limit, data_dir=args.data_dir, out=args.out,
                              name=args.name, settings=dict(args.settings), threads=args.threads)
    except (DataError, ArtifactError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.tracking_uri:
        log.info("logged to MLflow run %s", log_to_mlflow(folder, args.tracking_uri))
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
