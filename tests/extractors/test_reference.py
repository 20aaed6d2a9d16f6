"""The reference pipeline: the fit command, its artifact, reloading it exactly, and refusing a mismatched one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from extractors.reference.artifact import ArtifactError, artifact_name, load_artifact
from extractors.reference.extractor import ReferenceExtractor
from extractors.reference.fit import fit_artifact, main
from extractors.reference.settings import VERSION
from harness.config import DatasetConfig
from harness.sources import load_charts
from harness.sources.codiesp_codes import valid_codes

SLICE = 40
"""Training charts of the slice the tests fit on."""
FAST = {"folds": 3}


def _charts(data_dir: Path, split: str, limit: int | None) -> list:
    config = DatasetConfig(name="codiesp_es", split=split, limit=limit, data_dir=str(data_dir), code_systems=["icd10cm"],
                           unknown_gold_codes="keep")
    return load_charts(config)


@pytest.fixture(scope="module")
def fitted(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """An artifact fitted on a slice of the training split, and the model as fitted (before saving)."""
    out = tmp_path_factory.mktemp("reference") / "es_D_slice"
    return fit_artifact("es", "D", ["train"], limit=SLICE, data_dir=str(data_dir), out=out, settings=FAST)


def _extractor(folder: Path, **config: object) -> ReferenceExtractor:
    return ReferenceExtractor({"name": "reference", "artifact": str(folder), "codes": "D", **config})


@pytest.mark.slow  # fits the reference model
def test_fit_command_writes_a_loadable_artifact(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(["--language", "es", "--codes", "D", "--limit", "15", "--data-dir", str(data_dir), "--out", str(out),
                 "--set", "folds=2"])
    assert code == 0 and capsys.readouterr().out.strip() == str(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == VERSION and manifest["language"] == "es" and manifest["code_system"] == "icd10cm"
    assert manifest["code_set"]["system"] == "icd10cm" and manifest["code_set"]["year"] == 2026
    assert manifest["code_set"]["packages"] == {"simple-icd-10-cm": "1.5.0", "cie": "0.208"}
    assert manifest["training"]["charts"] == 15 and manifest["training"]["splits"] == ["train"]
    assert manifest["settings"]["folds"] == 2 and manifest["timings"]["fit_s"] > 0
    artifact = load_artifact(out, code_set_year=2026, language="es", code_system="icd10cm")
    assert artifact.model.language == "es" and artifact.model.system == "icd10cm"


@pytest.mark.slow  # fits the reference model
def test_loaded_pipeline_reproduces_the_fitted_predictions(fitted: tuple[Path, object], data_dir: Path) -> None:
    folder, model = fitted
    dev = _charts(data_dir, "dev", 20)
    extractor = _extractor(folder, language="es")
    extractor.fit(_charts(data_dir, "train", SLICE))  # the training data it was fitted on passes the check
    extractions = extractor.extract(dev)
    assert all(e.error is None for e in extractions)
    loaded = [[(f.code, f.confidence, [(s.start, s.end) for s in f.spans], f.assertion) for f in e.findings] for e in extractions]
    fresh = [[(c.code, c.score, c.mentions, c.assertion) for c in model.predict(chart)] for chart in dev]
    assert loaded == fresh
    assert sum(map(len, loaded)) > 0
    findings = [f for e in extractions for f in e.findings]
    assert {f.attributes["evidence"] for f in findings} <= {"mention", "sentence", "none"}
    for chart, extraction in zip(dev, extractions, strict=True):
        for finding in extraction.findings:
            assert all(chart.text[s.start : s.end] == s.text for s in finding.spans)
            assert (finding.attributes["evidence"] == "none") == (not finding.spans)
    # every prediction is on the valid-code list, so restricting to it (as CodiEsp scoring does) changes nothing
    assert {f.code for f in findings} <= valid_codes("icd10cm", data_dir=str(data_dir))


@pytest.mark.slow  # fits the reference model
def test_a_refit_is_identical_whatever_the_string_hash_seed_or_thread_count(data_dir: Path, tmp_path: Path) -> None:
    # Same config and seed, same model: no float sum or tie may depend on set order, which the hash seed changes,
    # nor on how many OpenMP threads the gradient boosting splits its work over.
    predictions = []
    for hash_seed, threads in (("1", []), ("2", ["--threads", "1"])):
        out = tmp_path / f"hash_seed_{hash_seed}"
        subprocess.run([sys.executable, "-m", "extractors.reference.fit", "--language", "es", "--codes", "D",
                        "--limit", str(SLICE), "--data-dir", str(data_dir), "--out", str(out), "--set", "folds=3", *threads],
                       env={**os.environ, "PYTHONHASHSEED": hash_seed}, check=True, capture_output=True)
        model = load_artifact(out, code_set_year=2026, language="es", code_system="icd10cm").model
        dev = _charts(data_dir, "dev", 20)
        predictions.append([[(c.code, c.score, c.features) for c in model.predict(chart)] for chart in dev])
    assert predictions[0] == predictions[1]
    assert sum(map(len, predictions[0])) > 0


def test_a_thread_count_below_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--language", "es", "--threads", "0", "--out", str(tmp_path / "never")]) == 2
    assert "--threads must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_a_missing_artifact_is_a_clear_error(tmp_path: Path) -> None:
    extractor = _extractor(tmp_path / "nowhere")  # configs validate without artifacts (sweeps are checked up front)
    with pytest.raises(ArtifactError, match="no reference artifact at .*harness fit"):
        extractor.extract([])


@pytest.mark.slow  # fits the reference model
def test_a_wrong_code_set_year_or_model_version_is_refused(fitted: tuple[Path, object], tmp_path: Path) -> None:
    folder, _ = fitted
    with pytest.raises(ArtifactError, match="code-set year is 2026, expected 2025"):
        _ = _extractor(folder, code_set_year=2025).artifact
    copy = tmp_path / "edited"
    copy.mkdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["code_set"]["year"] = 2025
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "model.pkl").write_bytes((folder / "model.pkl").read_bytes())
    with pytest.raises(ArtifactError, match="code-set year is 2025, expected 2026"):
        _ = _extractor(copy).artifact
    manifest["code_set"]["year"] = 2026
    manifest["version"] = "reference@1"  # fitted before the features changed: its re-ranker cannot score today's rows
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=f"model version is 'reference@1', expected '{VERSION}'"):
        _ = _extractor(copy).artifact


@pytest.mark.slow  # fits the reference model
def test_other_training_data_is_refused(fitted: tuple[Path, object], data_dir: Path) -> None:
    folder, _ = fitted
    extractor = _extractor(folder)
    with pytest.raises(ArtifactError, match="training data digest differs.*fitted on 40 charts of train"):
        extractor.fit(_charts(data_dir, "train", SLICE + 1))


@pytest.mark.slow  # fits the reference model
def test_a_final_refit_on_train_and_dev_passes_the_pipelines_training_check(data_dir: Path, tmp_path: Path) -> None:
    # The final artifact is fitted on train+dev, but the pipeline scoring the test split passes it the train split.
    assert artifact_name("es", "D", ["train", "dev"]) == "codiesp_es_D_train+dev"
    folder, _ = fit_artifact("es", "D", ["train", "dev"], limit=15, data_dir=str(data_dir), out=tmp_path / "final",
                             settings={"folds": 2})
    extractor = _extractor(folder)
    train, dev = _charts(data_dir, "train", 15), _charts(data_dir, "dev", 15)
    extractor.fit(train)
    extractor.fit(train + dev)
    with pytest.raises(ArtifactError, match="fitted on 30 charts of train\\+dev"):
        extractor.fit(_charts(data_dir, "train", 16))


@pytest.mark.slow  # fits the reference model
def test_another_language_code_system_or_an_altered_model_is_refused(fitted: tuple[Path, object], tmp_path: Path) -> None:
    folder, _ = fitted
    with pytest.raises(ArtifactError, match="language is 'es', expected 'en'"):
        _ = _extractor(folder, language="en").artifact
    with pytest.raises(ArtifactError, match="code system is 'icd10cm', expected 'icd10pcs'"):
        _ = _extractor(folder, codes="P").artifact
    copy = tmp_path / "altered"
    copy.mkdir()
    (copy / "manifest.json").write_text((folder / "manifest.json").read_text())
    (copy / "model.pkl").write_bytes((folder / "model.pkl").read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        _ = _extractor(copy).artifact


@pytest.mark.slow  # fits the reference model
def test_an_artifact_pickled_before_its_modules_moved_says_refit(fitted: tuple[Path, object], tmp_path: Path) -> None:
    import hashlib
    import pickle
    import sys
    import types

    folder, _ = fitted
    old = types.ModuleType("extractors.reference_model")  # where the model class lived before the restructuring
    old.ReferenceModel = type("ReferenceModel", (), {"__module__": "extractors.reference_model"})
    sys.modules[old.__name__] = old
    try:
        payload = pickle.dumps(old.ReferenceModel())
    finally:
        del sys.modules[old.__name__]
    copy = tmp_path / "old-layout"
    copy.mkdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["model_sha256"] = hashlib.sha256(payload).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "model.pkl").write_bytes(payload)
    with pytest.raises(ArtifactError, match="modules have since moved.*refit it with `harness fit`"):
        _ = _extractor(copy).artifact
