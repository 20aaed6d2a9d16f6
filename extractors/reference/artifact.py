"""Versioned artifacts of the reference model: a folder with ``manifest.json``, ``model.json`` and ``model.npz``.

The manifest (JSON, readable without Python) records the format and extractor version, the
language, code system and code-set year, the training data (splits, chart count and the
``harness.sources.dataset_digest`` of the charts), the settings, timings, package versions and
the sha256 of each model file. The model is data (``extractors.reference.model_format``: a JSON
document and numeric arrays, never a pickle), so loading a folder runs no code from it, whoever wrote
it: the digests, which whoever writes the folder also writes, only catch damage, and trust rests on the
format. ``load_artifact`` refuses, in one line naming the folder and what is wrong, an artifact that is
missing, malformed, altered, pickled by an older harness (format 1), fitted with another scikit-learn,
or for another code-set year, language or code system than expected; ``check_training_data`` refuses
training charts other than those the artifact was fitted on.

Artifacts live under ``harness.config.cache_root() / "reference"``; a bare name resolves there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.contracts import Chart
from harness.errors import ConfigError

FORMAT = 2
"""Layout of the artifact folder and manifest; bumped when either changes (1: the model pickled in ``model.pkl``)."""
MANIFEST = "manifest.json"
PICKLED = "model.pkl"
"""Where format 1 kept the pickled model: never read, and removed when a fit rewrites the folder."""
CODES = {"D": "icd10cm", "P": "icd10pcs"}
"""CodiEsp sub-track -> code system of its codes."""


class ArtifactError(ConfigError):
    """A reference artifact that is missing or does not match what the pipeline expects.

    A ``harness.run.ConfigError``: the config names the artifact, so the CLI reports it in one line.
    """


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: its manifest and the fitted ``extractors.reference.model.ReferenceModel``."""

    path: Path
    manifest: dict[str, Any]
    model: Any


class _Training(BaseModel):
    model_config = ConfigDict(strict=True)

    splits: list[str]
    charts: int
    data_digest: str
    split_digests: dict[str, str] = {}


class _CodeSet(BaseModel):
    model_config = ConfigDict(strict=True)

    year: int


class _Manifest(BaseModel):
    """The manifest fields loading reads (others are kept, unread)."""

    model_config = ConfigDict(strict=True)

    format: int
    version: str
    language: str
    code_system: str
    code_set: _CodeSet
    training: _Training
    settings: dict[str, Any]
    packages: dict[str, str]
    model_files: dict[str, str]
    model_sha256: str


def artifacts_root() -> Path:
    from harness.config import cache_root

    return cache_root() / "reference"


def artifact_name(language: str, codes: str, splits: Sequence[str]) -> str:
    """Default name: ``codiesp_<language>_<codes>_<splits joined by +>`` (e.g. ``codiesp_es_D_train``)."""
    return f"codiesp_{language}_{codes}_{'+'.join(splits)}"


def resolve(name_or_path: str | Path) -> Path:
    """A bare name -> its folder under ``artifacts_root()``; anything path-like is taken as a path."""
    text = str(name_or_path)
    return Path(text) if "/" in text or "\\" in text else artifacts_root() / text


def save_artifact(folder: Path, model: Any, manifest: dict[str, Any]) -> Path:
    """Write the model files, then ``manifest.json`` (with format, the files' digests, creation time and package versions)."""
    import importlib.metadata

    from extractors.reference.checked_fields import ARRAYS, DOCUMENT
    from extractors.reference.model_format import document_bytes, encode, write_arrays
    from harness.atomic_files import atomic_write, write_text_atomic

    document, arrays = encode(model)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / DOCUMENT, "wb") as out:
        out.write(document_bytes(document))
    with atomic_write(folder / ARRAYS, "wb") as out:
        write_arrays(out, arrays)
    (folder / PICKLED).unlink(missing_ok=True)  # a refit of a format-1 folder leaves no pickle beside the new model
    payloads = {name: (folder / name).read_bytes() for name in (DOCUMENT, ARRAYS)}
    full = {
        "format": FORMAT,
        **manifest,
        "model_files": {name: hashlib.sha256(payload).hexdigest() for name, payload in payloads.items()},
        "model_sha256": _model_digest(payloads),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": {p: importlib.metadata.version(p) for p in ("scikit-learn", "numpy", "scipy")},
    }
    write_text_atomic(folder / MANIFEST, json.dumps(full, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return folder


def _model_digest(payloads: dict[str, bytes]) -> str:
    """The model's digest (its revision in extractions): sha256 of ``model.json`` followed by ``model.npz``."""
    digest = hashlib.sha256()
    for payload in payloads.values():
        digest.update(payload)
    return digest.hexdigest()


def _read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest, checked to hold every field loading reads; ``ArtifactError`` names what is wrong."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(
            f"no reference artifact at {folder} (missing {MANIFEST}); fit one with "
            f"`harness fit --language <es|en> --codes <D|P>`")
    try:
        manifest = json.loads(path.read_bytes())
    except OSError as exc:
        raise ArtifactError(f"reference artifact {folder}: cannot read {MANIFEST} ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON or bad UTF-8
        raise ArtifactError(f"reference artifact {folder}: {MANIFEST} is not valid JSON "
                            f"({str(exc) or type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"reference artifact {folder}: {MANIFEST} is not a JSON object")
    found = manifest.get("format")
    if found == 1:
        raise ArtifactError(f"reference artifact {folder}: format 1 keeps the model as a pickle ({PICKLED}), which could run "
                            f"code when loaded, so it is never loaded; refit it with `harness fit` (format {FORMAT})")
    if found != FORMAT:
        raise ArtifactError(f"reference artifact {folder}: format is {found!r}, expected {FORMAT}")
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ArtifactError(f"reference artifact {folder}: {MANIFEST}: {'.'.join(map(str, error['loc']))}: "
                            f"{error['msg']}") from None
    return manifest


def load_artifact(name_or_path: str | Path, *, code_set_year: int, language: str | None = None,
                  code_system: str | None = None) -> Artifact:
    """Load and check an artifact; ``ArtifactError`` names the first thing that differs from what is expected.

    The model files are read once, checked against their digests and decoded from those same bytes.
    """
    import importlib.metadata

    from extractors.reference.checked_fields import ARRAYS, DOCUMENT, ModelFormatError
    from extractors.reference.model_format import decode, read_arrays, read_document
    from extractors.reference.settings import VERSION

    folder = resolve(name_or_path)
    manifest = _read_manifest(folder)
    expected = {
        "model version": (manifest["version"], VERSION),
        "code-set year": (manifest["code_set"]["year"], code_set_year),
        "language": (manifest["language"], language),
        "code system": (manifest["code_system"], code_system),
        "scikit-learn version": (manifest["packages"].get("scikit-learn"), importlib.metadata.version("scikit-learn")),
    }
    for what, (found, wanted) in expected.items():
        if wanted is not None and found != wanted:
            raise ArtifactError(f"reference artifact {folder}: {what} is {found!r}, expected {wanted!r}")
    payloads = {}
    for name in (DOCUMENT, ARRAYS):
        try:
            payloads[name] = (folder / name).read_bytes()
        except OSError as exc:
            raise ArtifactError(f"reference artifact {folder}: cannot read {name} ({exc.strerror or exc})") from None
        if hashlib.sha256(payloads[name]).hexdigest() != manifest["model_files"].get(name):
            raise ArtifactError(f"reference artifact {folder}: {name} does not match the sha256 in {MANIFEST}")
    if _model_digest(payloads) != manifest["model_sha256"]:
        raise ArtifactError(f"reference artifact {folder}: model_sha256 in {MANIFEST} is not the digest of {DOCUMENT} "
                            f"and {ARRAYS}")
    try:
        model = decode(read_document(payloads[DOCUMENT]), read_arrays(payloads[ARRAYS]))
    except ModelFormatError as exc:
        raise ArtifactError(f"reference artifact {folder}: {exc}") from None
    if (model.language, model.system) != (manifest["language"], manifest["code_system"]):
        raise ArtifactError(f"reference artifact {folder}: {DOCUMENT} is for {model.language!r} charts coded in "
                            f"{model.system}, {MANIFEST} says {manifest['language']!r} and {manifest['code_system']}")
    if model.settings.model_dump(mode="json") != manifest["settings"]:
        raise ArtifactError(f"reference artifact {folder}: the settings in {DOCUMENT} differ from those in {MANIFEST}")
    return Artifact(folder, manifest, model)


def check_training_data(artifact: Artifact, charts: Sequence[Chart]) -> None:
    """Refuse training charts whose digest is neither the artifact's training data nor one of its splits."""
    from harness.sources import dataset_digest

    training = artifact.manifest["training"]
    found = dataset_digest(list(charts))
    known = {training["data_digest"], *training.get("split_digests", {}).values()}
    if found not in known:
        raise ArtifactError(
            f"reference artifact {artifact.path}: training data digest differs: the pipeline's training charts "
            f"({len(charts)} charts) digest to {found}, the artifact was fitted on {training['charts']} charts of "
            f"{'+'.join(training['splits'])} with digest {training['data_digest']}; refit it with `harness fit`")
