"""The reference pipeline: the fit command, its artifact, reloading it exactly, and refusing a mismatched one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from extractors.reference.artifact import ArtifactError, artifact_name, load_artifact
from extractors.reference.extractor import ReferenceExtractor
from extractors.reference.fit import fit_artifact
from extractors.reference.settings import VERSION
from harness.cli.fit import main
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
    # nor on how many OpenMP threads the gradient boosting splits its work over (on a slice this small, BLAS does not
    # split the classifier's sums by thread either; on a full fit they can differ in their last bits).
    predictions, digests = [], []
    for hash_seed, threads in (("1", []), ("2", ["--threads", "2"])):
        out = tmp_path / f"hash_seed_{hash_seed}"
        subprocess.run([sys.executable, "-m", "harness", "fit", "--language", "es", "--codes", "D",
                        "--limit", str(SLICE), "--data-dir", str(data_dir), "--out", str(out), "--set", "folds=3", *threads],
                       env={**os.environ, "PYTHONHASHSEED": hash_seed}, check=True, capture_output=True)
        artifact = load_artifact(out, code_set_year=2026, language="es", code_system="icd10cm")
        dev = _charts(data_dir, "dev", 20)
        predictions.append([[(c.code, c.score, c.features) for c in artifact.model.predict(chart)] for chart in dev])
        digests.append(artifact.manifest["model_files"])
    assert predictions[0] == predictions[1]
    assert digests[0] == digests[1]  # the model files too, byte for byte (timings live in the manifest)
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
    copy = shutil.copytree(folder, tmp_path / "edited")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["code_set"]["year"] = 2025
    (copy / "manifest.json").write_text(json.dumps(manifest))
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
    copy = shutil.copytree(folder, tmp_path / "altered")
    (copy / "model.npz").write_bytes((folder / "model.npz").read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="model.npz does not match the sha256"):
        _ = _extractor(copy).artifact


def _candidates(predictions: list) -> list:
    return [[(c.code, c.score, c.features, c.mentions, c.evidence_kind, c.assertion) for c in chart] for chart in predictions]


@pytest.mark.slow  # fits the reference model
def test_batched_scoring_is_the_per_chart_scoring_bit_for_bit(fitted: tuple[Path, object], data_dir: Path) -> None:
    # One call of each scikit-learn model for many charts: every row is still computed on its own, so the features,
    # scores (exact floats), evidence and assertions are those of scoring each chart alone, whatever the grouping.
    folder, model = fitted
    dev = _charts(data_dir, "dev", 40)
    alone = _candidates([model.predict(chart) for chart in dev])
    assert _candidates(model.predict_many(dev)) == alone
    assert _candidates(model.predict_many(dev[:7]) + model.predict_many(dev[7:])) == alone
    assert {c[4] for chart in alone for c in chart} == {"mention", "sentence", "none"}  # every evidence path is covered
    extractor = _extractor(folder)
    together = extractor.extract(dev)
    assert [e.findings for e in together] == [e.findings for chart in dev for e in extractor.extract([chart])]
    assert sum(len(e.findings) for e in together) > 0 and all(e.error is None for e in together)


class _StubModel:
    """Stands in for a fitted ``ReferenceModel``: one candidate per chart; a chart reading ``boom`` fails its call."""

    language = "es"
    system = "icd10cm"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.threads: list[dict[str, int]] = []

    def predict_many(self, charts: list) -> list:
        from threadpoolctl import threadpool_info

        from extractors.reference.candidates import Candidate

        self.calls.append([chart.id for chart in charts])
        self.threads.append({info["user_api"]: info["num_threads"] for info in threadpool_info()})
        if any(chart.text == "boom" for chart in charts):
            raise RuntimeError("boom")
        features = {"lex_precision": 0.5, "ret_similarity": 0.0, "clf_probability": 0.0}
        return [[Candidate("J18.9", features=dict(features), mentions=[(0, 4)], evidence_kind="mention", score=0.9)]
                for _ in charts]


def _stubbed(**config: object) -> tuple[ReferenceExtractor, _StubModel]:
    from extractors.reference.artifact import Artifact

    extractor = _extractor(Path("stub"), **config)
    model = _StubModel()
    extractor._artifact = Artifact(Path("stub"), {"training": {"splits": ["train"]}, "model_sha256": "0" * 64}, model)
    return extractor, model


def _chart(chart_id: str, text: str = "tos seca", language: str = "es") -> object:
    from harness.contracts import Chart

    return Chart(id=chart_id, text=text, language=language)


def test_a_chart_that_fails_its_batch_is_scored_alone_and_only_it_gets_an_error() -> None:
    extractor, model = _stubbed()
    charts = [_chart("a"), _chart("bad", "boom"), _chart("c"), _chart("english", language="en"), _chart("e")]
    extractions = extractor.extract(charts)
    assert [e.chart_id for e in extractions] == ["a", "bad", "c", "english", "e"]
    assert [e.error for e in extractions] == [None, "RuntimeError: boom", None,
                                              "ValueError: chart language 'en', artifact fitted for 'es'", None]
    assert [[f.code for f in e.findings] for e in extractions] == [["J18.9"], [], ["J18.9"], [], ["J18.9"]]
    # the batch's first call failed (the language is checked before any model call), then each chart went alone
    assert model.calls == [["a"], ["bad"], ["c"], ["e"]]
    fine, fine_model = _stubbed()
    assert [e.error for e in fine.extract([_chart("a"), _chart("c")])] == [None, None] and fine_model.calls == [["a", "c"]]


@pytest.mark.parametrize("threads", [1, 2])
def test_scoring_runs_under_the_configured_thread_cap(threads: int) -> None:
    from threadpoolctl import threadpool_info

    extractor, model = _stubbed(threads=threads)
    extractor.extract([_chart("a"), _chart("b")])
    assert model.threads[0]["openmp"] == threads  # scikit-learn's OpenMP runtime is loaded, and capped
    assert set(model.threads[0].values()) == {threads}  # BLAS too
    default = {info["filepath"]: info["num_threads"] for info in threadpool_info()}
    extractor.extract([_chart("a")])
    assert {info["filepath"]: info["num_threads"] for info in threadpool_info()} == default  # restored after the call
    unlimited, model = _stubbed(threads=None)
    unlimited.extract([_chart("a")])
    assert model.threads[0]["openmp"] == next(i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp")


def test_the_thread_cap_changes_no_extraction_cache_key() -> None:
    from harness.pipeline.extraction_cache import extractor_fingerprint

    fingerprints = set()
    for threads in (None, 1, 4):
        extractor, _ = _stubbed(threads=threads)
        fingerprints.add(extractor_fingerprint(extractor))
        assert "threads" not in extractor.config.model_dump(mode="json")
    assert len(fingerprints) == 1


@pytest.mark.slow  # fits the reference model
def test_retrieval_vectors_phrases_as_its_vectorizer_does(fitted: tuple[Path, object], data_dir: Path) -> None:
    # SpanRetriever.features sums the words' n-gram counts instead of analysing each phrase: the same matrix, bit for bit
    from extractors.reference.span_lexicon import content_ngrams, key_tokens

    _, model = fitted
    retriever = model.sources.retriever
    phrases = sorted({" ".join(t.key for t in tokens[i : i + n]) for chart in _charts(data_dir, "dev", 10)
                      for tokens in [key_tokens(chart.text)] for i, n in content_ngrams(tokens, retriever.max_words)})
    phrases += ["", "zzzz qqqq", "a", "dolor  dolor\tdolor"]
    fast, reference = retriever.features(phrases), retriever._vectorizer.transform(phrases)
    assert fast.shape == reference.shape and fast.dtype == reference.dtype and len(phrases) > 1000
    assert (fast.indptr == reference.indptr).all() and (fast.indices == reference.indices).all()
    assert fast.data.tobytes() == reference.data.tobytes()


@pytest.mark.slow  # fits the reference model
def test_the_bench_scores_both_paths_on_the_same_charts_with_the_same_findings(
        fitted: tuple[Path, object], data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    from harness.benchmarks.reference import main as bench

    folder, _ = fitted
    assert bench(["--artifact", str(folder), "--limit", "5", "--before-limit", "3", "--batch", "2", "--busy", "1"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"│ (per chart|batched by 2)[^│]*│ (alone|beside 1 busy process)\s*│\s+(\d+) │", out)
    assert sorted(rows) == sorted([("per chart", "alone", "3"), ("batched by 2", "alone", "5"),
                                   ("per chart", "beside 1 busy process", "3"), ("batched by 2", "beside 1 busy process", "5")])
    assert re.search(r"predictions identical across the 4 rounds \(\d+ findings on the 3 charts[^)]*\): yes", out)
