"""Fit the reference model on CodiEsp and save it as a versioned artifact (:func:`fit_artifact`; the command is
``harness fit``, ``harness.cli.fit``)."""

from __future__ import annotations

import importlib.metadata
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("extractors.reference.fit")


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
