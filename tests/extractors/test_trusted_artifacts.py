"""Only data loads: a reference artifact or an ICD term-index cache never runs code from its files, and a tampered or
malformed one is refused in one line naming the folder and what is wrong (exit 2 from the command).

The digests in an artifact's manifest are written by whoever writes the folder, so the tampered folders here carry
digests that match: what keeps loading safe is the format (JSON and numeric arrays, checked field by field).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bad_inputs.artifacts import Marker, manifest
from conftest import harness

from extractors.reference.artifact import ArtifactError, load_artifact
from extractors.reference.fit import fit_artifact
from extractors.reference.model_format import read_arrays

SLICE = 15
"""Training charts of the slice the tests fit on."""
CHART = {"id": "c1", "language": "es", "text": "Paciente con hipertension arterial.", "meta": {"split": "dev"}}


@pytest.fixture(scope="module")
def fitted(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact fitted on a slice of the training split."""
    out = tmp_path_factory.mktemp("trusted") / "es_D_slice"
    folder, _ = fit_artifact("es", "D", ["train"], limit=SLICE, data_dir=str(data_dir), out=out, settings={"folds": 2},
                             progress=False)
    return folder


def _load(folder: Path) -> Any:
    return load_artifact(folder, code_set_year=2026, language="es", code_system="icd10cm")


def _rehash(folder: Path) -> None:
    """Rewrite the manifest's digests to match the model files, as a forger who controls the folder would."""
    manifest_path = folder / "manifest.json"
    document = json.loads(manifest_path.read_text())
    payloads = {name: (folder / name).read_bytes() for name in ("model.json", "model.npz")}
    document["model_files"] = {name: hashlib.sha256(payload).hexdigest() for name, payload in payloads.items()}
    document["model_sha256"] = hashlib.sha256(b"".join(payloads.values())).hexdigest()
    manifest_path.write_text(json.dumps(document))


def _npz(arrays: dict[str, np.ndarray], *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _run(tmp_path: Path, artifact: Path) -> Any:
    """The real command scoring one Spanish chart with the artifact."""
    charts = tmp_path / "charts.jsonl"
    charts.write_text(json.dumps(CHART) + "\n")
    return harness(tmp_path, "dataset=jsonl", f"dataset.path={charts}", "extractor=reference", f"extractor.artifact={artifact}",
                   "extractor.train_split=null", "tracking.enabled=false", "extraction_cache=false",
                   f"hydra.run.dir={tmp_path / 'run'}", check=False)


def _one_error_line(done: Any) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return errors[0]


@pytest.mark.slow  # fits the reference model, runs the command
def test_a_pickled_model_is_refused_by_the_command_and_never_runs(fitted: Path, tmp_path: Path) -> None:
    art = tmp_path / "old"
    art.mkdir()
    payload = pickle.dumps(Marker(tmp_path))
    document = json.loads((fitted / "manifest.json").read_text()) | {"format": 1,
                                                                      "model_sha256": hashlib.sha256(payload).hexdigest()}
    (art / "manifest.json").write_text(json.dumps(document))
    (art / "model.pkl").write_bytes(payload)
    line = _one_error_line(_run(tmp_path, art))
    assert line.startswith(f"error: reference artifact {art}: format 1 keeps the model as a pickle") and "refit" in line
    assert not (tmp_path / "MARKER").exists()
    pickle.loads(payload)  # what loading it would have done
    assert (tmp_path / "MARKER").exists()


@pytest.mark.slow  # fits the reference model
@pytest.mark.parametrize("smuggle", ["object_array", "whole_pickle"])
def test_a_pickle_in_the_arrays_is_refused_though_its_digests_match(fitted: Path, tmp_path: Path, smuggle: str) -> None:
    art = shutil.copytree(fitted, tmp_path / "art")
    if smuggle == "object_array":  # the real arrays, and one more of pickled objects
        arrays = read_arrays((fitted / "model.npz").read_bytes()) | {"evil": np.array([Marker(tmp_path)], dtype=object)}
        (art / "model.npz").write_bytes(_npz(arrays, allow_pickle=True))
        expected = "model.npz: evil: an array of pickled Python objects, which is never loaded"
    else:
        (art / "model.npz").write_bytes(pickle.dumps(Marker(tmp_path)))
        expected = "model.npz: not a zip of .npy arrays"
    _rehash(art)
    with pytest.raises(ArtifactError, match=expected):
        _load(art)
    assert not (tmp_path / "MARKER").exists()
    if smuggle == "object_array":  # what loading it with pickle allowed would have done
        _ = np.load(art / "model.npz", allow_pickle=True)["evil"]
    else:
        pickle.loads((art / "model.npz").read_bytes())
    assert (tmp_path / "MARKER").exists()


@pytest.mark.slow  # fits the reference model
def test_a_swapped_model_with_matching_digests_is_only_data(fitted: Path, tmp_path: Path) -> None:
    # Whoever writes the folder can make the model say anything, but what it says is terms, codes and numbers: strings
    # naming Python callables stay strings, and loading runs nothing.
    art = shutil.copytree(fitted, tmp_path / "art")
    document = json.loads((art / "model.json").read_text())
    evil = f"__import__('os').system('touch {tmp_path / 'MARKER'}')"
    document["lexicon"].append(["termino inventado", "evidence", {"os.system": 1, evil: 2}])
    (art / "model.json").write_text(json.dumps(document))
    _rehash(art)
    model = _load(art).model
    assert dict(model.sources.lexicon.codes["termino inventado"]) == {"os.system": 1, evil: 2}
    assert not (tmp_path / "MARKER").exists()


def _document(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def tamper(art: Path) -> None:
        document = json.loads((art / "model.json").read_text())
        edit(document)
        (art / "model.json").write_text(json.dumps(document))

    return tamper


def _arrays(edit: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    def tamper(art: Path) -> None:
        arrays = read_arrays((art / "model.npz").read_bytes())
        edit(arrays)
        (art / "model.npz").write_bytes(_npz(arrays))

    return tamper


def _set(mapping: dict[str, Any], key: str, value: Any) -> None:
    mapping[key] = value


def _child_out_of_its_tree(arrays: dict[str, np.ndarray]) -> None:
    nodes = arrays["reranker.0.0.nodes"]
    split = int(np.flatnonzero(nodes["is_leaf"] == 0)[0])
    nodes["left"][split] = 10**6  # compiled prediction would read far outside the array


def _loop_in_a_tree(arrays: dict[str, np.ndarray]) -> None:
    nodes = arrays["reranker.0.0.nodes"]
    split = int(np.flatnonzero(nodes["is_leaf"] == 0)[0])
    nodes["right"][split] = 0  # back to the root: prediction would never end


def _row_pointer_past_the_data(arrays: dict[str, np.ndarray]) -> None:
    arrays["classifier.charts_indptr"][-1] += 5


def _column_past_the_matrix(arrays: dict[str, np.ndarray]) -> None:
    arrays["classifier.charts_indices"][0] = 10**6


def _drop(name: str) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda arrays: arrays.pop(name)


def _bytes_for_an_array(art: Path) -> None:
    arrays = read_arrays((art / "model.npz").read_bytes())
    payload = io.BytesIO(_npz({name: array for name, array in arrays.items() if name != "classifier.idf"}))
    with zipfile.ZipFile(payload, "a") as archive:
        archive.writestr("classifier.idf", b"not an array")  # np.load hands such a member over as its bytes
    (art / "model.npz").write_bytes(payload.getvalue())


TAMPERED = {
    "weights_of_another_shape": (_arrays(lambda a: _set(a, "classifier.weights", a["classifier.weights"][:-1])),
                                 r"model.npz: classifier.weights: shape \(\d+, \d+\), expected \(\d+, \d+\)"),
    "weights_of_another_dtype": (_arrays(lambda a: _set(a, "classifier.weights", a["classifier.weights"].astype(np.float32))),
                                 "model.npz: classifier.weights: dtype float32, expected float64"),
    "missing_array": (_arrays(_drop("classifier.idf")), "model.npz: no array 'classifier.idf'"),
    "bytes_for_an_array": (_bytes_for_an_array, "model.npz: classifier.idf: not a .npy array"),
    "tree_child_out_of_its_tree": (_arrays(_child_out_of_its_tree), r"model.npz: reranker.0.0.nodes: node \d+ of tree 0 links"),
    "tree_with_a_loop": (_arrays(_loop_in_a_tree), r"model.npz: reranker.0.0.nodes: node \d+ of tree 0 links"),
    "tree_sizes_off": (_arrays(lambda a: _set(a, "reranker.0.0.tree_sizes", a["reranker.0.0.tree_sizes"] + 1)),
                       "model.npz: reranker.0.0.tree_sizes: tree sizes that do not divide"),
    "row_pointer_past_the_data": (_arrays(_row_pointer_past_the_data), "model.npz: classifier.charts_indptr: row pointers"),
    "column_past_the_matrix": (_arrays(_column_past_the_matrix), "model.npz: classifier.charts_indices: a column index outside"),
    "calibration_not_increasing": (_arrays(lambda a: _set(a, "reranker.1.0.calibration_x",
                                                          a["reranker.1.0.calibration_x"][::-1].copy())),
                                   "model.npz: reranker.1.0.calibration_x: calibration points"),
    "document_not_an_object": (lambda art: (art / "model.json").write_text("[]"),
                               "model.json: the document: expected an object, found a list"),
    "lexicon_entry_not_a_list": (_document(lambda d: d["lexicon"].__setitem__(0, "term")),
                                 r"model.json: lexicon\[0\]: expected a list, found a string"),
    "lexicon_term_repeated": (_document(lambda d: d["lexicon"].append(d["lexicon"][0])),
                              r"model.json: lexicon\[\d+\]\[0\]: not a term the lexicon keeps as written"),
    "lexicon_count_negative": (_document(lambda d: d["lexicon"][0].__setitem__(2, {"I10": -1})),
                               r"model.json: lexicon\[0\]\[2\] \(entry 0\): -1 is below 1"),
    "unknown_setting": (_document(lambda d: _set(d["settings"], "analyzer", "os.system")),
                        "model.json: settings: analyzer: Extra inputs are not permitted"),
    "count_past_float_precision": (_document(lambda d: _set(d, "n_charts", 2**60)),
                                   f"model.json: n_charts: {2**60} is not below 2\\*\\*53"),
    "precision_missing": (_document(lambda d: d.pop("precision")), "model.json: the document: missing 'precision'"),
    "classifier_gold_not_strings": (_document(lambda d: d["classifier"]["gold"].__setitem__(0, [1])),
                                    r"model.json: classifier.gold\[0\]\[0\]: expected a string, found int"),
    "reranker_member_missing": (_document(lambda d: d["reranker"].pop()), "model.json: reranker: 4 members, the settings make 5"),
    "reranker_dropped": (_document(lambda d: _set(d, "reranker", None)),
                         "model.json: reranker: missing, though the settings use the re-ranker"),
    "language_not_the_manifests": (_document(lambda d: _set(d, "language", "en")),
                                   "model.json is for 'en' charts coded in icd10cm, manifest.json says 'es' and icd10cm"),
}


@pytest.mark.slow  # fits the reference model
@pytest.mark.parametrize("kind", list(TAMPERED))
def test_a_malformed_model_is_refused_in_one_line_naming_the_field(fitted: Path, tmp_path: Path, kind: str) -> None:
    tamper, expected = TAMPERED[kind]
    art = shutil.copytree(fitted, tmp_path / "art")
    tamper(art)
    _rehash(art)
    with pytest.raises(ArtifactError, match=expected) as refused:
        _load(art)
    assert str(refused.value).startswith(f"reference artifact {art}: ") and "\n" not in str(refused.value)


@pytest.mark.parametrize(("content", "expected"), [
    (b'{"format": 2', "manifest.json is not valid JSON"),
    (b"\xff\xfe", "manifest.json is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "manifest.json is not valid JSON"),
    (b'"a string"', "manifest.json is not a JSON object"),
    (b"{}", "format is None, expected 2"),
    (json.dumps(manifest(training={"splits": "train", "charts": 1, "data_digest": "0"})).encode(),
     "manifest.json: training.splits: Input should be a valid list"),
    (json.dumps(manifest(code_set=[2026])).encode(), "manifest.json: code_set: Input should be a valid dictionary"),
    (json.dumps({k: v for k, v in manifest().items() if k != "model_sha256"}).encode(),
     "manifest.json: model_sha256: Field required"),
])
def test_a_malformed_manifest_is_refused_in_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    art = tmp_path / "art"
    art.mkdir()
    (art / "manifest.json").write_bytes(content)
    with pytest.raises(ArtifactError) as refused:
        _load(art)
    assert str(refused.value).startswith(f"reference artifact {art}: ") and expected in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_command_refuses_a_malformed_manifest_with_one_error_line(tmp_path: Path) -> None:
    art = tmp_path / "art"
    art.mkdir()
    (art / "manifest.json").write_text(json.dumps({k: v for k, v in manifest().items() if k != "training"}))
    line = _one_error_line(_run(tmp_path, art))
    assert line == f"error: reference artifact {art}: manifest.json: training: Field required"


@pytest.mark.slow  # builds the ICD term index three times
def test_the_icd_term_index_cache_holds_no_pickle_and_a_planted_one_never_runs(tmp_path: Path,
                                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from extractors.dictionary.extractor import load_icd_index

    cache = str(tmp_path / "cache")
    built = load_icd_index(2026, 10, 2, cache)
    [path] = (tmp_path / "cache" / "dictionary").iterdir()
    assert path.suffix == ".json" and json.loads(path.read_text()) == built
    # A pickle planted where the cache used to live is not read; nor is one planted in the cache file itself.
    payload = pickle.dumps(Marker(tmp_path))
    path.with_suffix(".pkl").write_bytes(payload)
    load_icd_index.cache_clear()
    assert load_icd_index(2026, 10, 2, cache) == built
    path.write_bytes(payload)
    load_icd_index.cache_clear()
    assert load_icd_index(2026, 10, 2, cache) == built
    assert "is unreadable" in caplog.text and "rebuilding it" in caplog.text
    assert json.loads(path.read_text()) == built  # rebuilt as JSON
    path.write_text(json.dumps({"essential hypertension": ["I10"]}))  # JSON, but not a term index
    load_icd_index.cache_clear()
    assert load_icd_index(2026, 10, 2, cache) == built and "does not map terms to codes" in caplog.text
    assert not (tmp_path / "MARKER").exists()
    load_icd_index.cache_clear()
