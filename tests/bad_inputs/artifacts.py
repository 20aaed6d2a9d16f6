"""Bad reference artifacts through the real ``harness`` command: each is refused in one line naming the folder and the
problem (exit 2), before any chart is scored and without running anything the folder holds.

Each case writes an artifact folder (``art``) beside its chart file and points ``extractor=reference`` at it. The
manifests are built here, without a fit; ``tests/extractors/test_trusted_artifacts.py`` tampers with fitted models.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bad_inputs.corpus import Case, Content, good

ART = ["dataset.path={file}", "extractor=reference", "extractor.artifact={folder}/art"]


class Marker:
    """Unpickled, it creates the file ``MARKER`` beside the chart file's folder: the trace of code run by loading."""

    def __init__(self, folder: Path):
        self.path = str(folder / "MARKER")

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def manifest(**changes: Any) -> dict[str, Any]:
    """A manifest loading accepts as far as the model files (which it names by their sha256); ``changes`` replace keys."""
    from extractors.reference.artifact import FORMAT
    from extractors.reference.settings import VERSION

    return {"format": FORMAT, "version": VERSION, "language": "es", "codes": "D", "code_system": "icd10cm",
            "code_set": {"system": "icd10cm", "year": 2026},
            "training": {"splits": ["train"], "charts": 40, "data_digest": "0" * 64, "split_digests": {}},
            "settings": {}, "timings": {}, "packages": {"scikit-learn": importlib.metadata.version("scikit-learn")},
            "model_files": {}, "model_sha256": "0" * 64} | changes


def artifact(document: Any, files: dict[str, bytes] | None = None, *, rehash: bool = True) -> Callable[[Path], Content]:
    """Write ``art/manifest.json`` (``document``: JSON-ready, or bytes as they are) and the ``files`` beside it; with
    ``rehash``, the manifest names the files' true digests, as a forger who rewrites both would."""

    def build(folder: Path) -> Content:
        art = folder / "art"
        art.mkdir()
        for name, payload in (files or {}).items():
            (art / name).write_bytes(payload)
        if isinstance(document, dict) and rehash and files:
            document["model_files"] = {name: hashlib.sha256(payload).hexdigest() for name, payload in files.items()}
            document["model_sha256"] = hashlib.sha256(b"".join(files.values())).hexdigest()
        (art / "manifest.json").write_bytes(document if isinstance(document, bytes) else json.dumps(document).encode())
        return good("c1")

    return build


def pickled_model(folder: Path) -> Content:
    """A format-1 folder: its manifest names the sha256 of a ``model.pkl`` that runs code when unpickled."""
    payload = pickle.dumps(Marker(folder))
    return artifact(manifest(format=1, model_sha256=hashlib.sha256(payload).hexdigest()), {"model.pkl": payload},
                    rehash=False)(folder)


def pickled_arrays(folder: Path) -> Content:
    """A format-2 folder whose ``model.npz`` is a pickle that runs code, with digests that match it."""
    return artifact(manifest(), {"model.json": b"{}", "model.npz": pickle.dumps(Marker(folder))})(folder)


def object_array(folder: Path) -> Content:
    """A format-2 folder whose ``model.npz`` is a real zip of arrays, one of them of pickled objects that run code."""
    import io
    import zipfile

    import numpy as np

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, archive.open("classifier.idf.npy", "w") as member:
        np.lib.format.write_array(member, np.array([Marker(folder)], dtype=object), allow_pickle=True)
    return artifact(manifest(), {"model.json": b"{}", "model.npz": buffer.getvalue()})(folder)


def _without(key: str) -> dict[str, Any]:
    document = manifest()
    del document[key]
    return document


CASES: list[Case] = [
    Case("artifact_manifest_not_json", artifact(b'{"format": 2,'), ART, 2, "manifest.json is not valid JSON"),
    Case("artifact_manifest_not_an_object", artifact(b"[2]"), ART, 2, "manifest.json is not a JSON object"),
    Case("artifact_manifest_missing_training", artifact(_without("training")), ART, 2,
         "manifest.json: training: Field required"),
    Case("artifact_manifest_chart_count_as_text",
         artifact(manifest(training={"splits": ["train"], "charts": "40", "data_digest": "0" * 64})), ART, 2,
         "manifest.json: training.charts: Input should be a valid integer"),
    Case("artifact_manifest_unknown_format", artifact(manifest(format=9)), ART, 2, "format is 9, expected 2"),
    Case("artifact_pickle_format_1", pickled_model, ART, 2, "format 1 keeps the model as a pickle (model.pkl), which could "
                                                            "run code when loaded, so it is never loaded"),
    Case("artifact_arrays_are_a_pickle", pickled_arrays, ART, 2, "model.npz: not a zip of .npy arrays"),
    Case("artifact_arrays_hold_pickled_objects", object_array, ART, 2,
         "model.npz: classifier.idf: an array of pickled Python objects, which is never loaded"),
    Case("artifact_document_not_json", artifact(manifest(), {"model.json": b"{", "model.npz": b""}), ART, 2,
         "model.json: not valid JSON"),
    Case("artifact_model_files_missing", artifact(manifest()), ART, 2, "cannot read model.json"),
    Case("artifact_model_digest_mismatch", artifact(manifest(), {"model.json": b"{}", "model.npz": b""}, rehash=False),
         ART, 2, "model.json does not match the sha256 in manifest.json"),
    Case("artifact_bare_name_not_in_cache", lambda folder: good("c1"),
         ["dataset.path={file}", "extractor=reference", "extractor.artifact=no_such_artifact"], 2,
         "no reference artifact at"),
]
