"""Versioned artifacts of the reference model: a folder with ``manifest.json`` and ``model.pkl``.

The manifest (JSON, readable without Python) records the format and extractor version, the
language, code system and code-set year, the training data (splits, chart count and the
``harness.sources.dataset_digest`` of the charts), the settings, timings, package versions and
the sha256 of ``model.pkl``. ``load_artifact`` refuses, naming what differs, an artifact that is
missing, altered, of another format, fitted with another scikit-learn, or for another code-set
year, language or code system than expected; ``check_training_data`` refuses training charts
other than those the artifact was fitted on.

Artifacts live under ``harness.config.cache_root() / "reference"``; a bare name resolves there.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.contracts import Chart
from harness.errors import ConfigError

FORMAT = 1
"""Layout of the artifact folder and manifest; bumped when either changes."""
MANIFEST = "manifest.json"
MODEL = "model.pkl"
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
    """Write ``model.pkl`` and ``manifest.json`` (with format, model digest, creation time and package versions)."""
    import importlib.metadata

    folder.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    (folder / MODEL).write_bytes(payload)
    full = {
        "format": FORMAT,
        **manifest,
        "model_file": MODEL,
        "model_sha256": hashlib.sha256(payload).hexdigest(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": {p: importlib.metadata.version(p) for p in ("scikit-learn", "numpy", "scipy")},
    }
    (folder / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return folder


def load_artifact(name_or_path: str | Path, *, code_set_year: int, language: str | None = None,
                  code_system: str | None = None) -> Artifact:
    """Load and check an artifact; ``ArtifactError`` names the first thing that differs from what is expected."""
    import importlib.metadata

    folder = resolve(name_or_path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(
            f"no reference artifact at {folder} (missing {MANIFEST}); fit one with "
            f"`harness fit --language <es|en> --codes <D|P>`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{manifest_path}: unreadable manifest ({exc})") from None
    from extractors.reference.settings import VERSION

    expected = {
        "format": (manifest.get("format"), FORMAT),
        "model version": (manifest.get("version"), VERSION),
        "code-set year": (manifest.get("code_set", {}).get("year"), code_set_year),
        "language": (manifest.get("language"), language),
        "code system": (manifest.get("code_system"), code_system),
        "scikit-learn version": (manifest.get("packages", {}).get("scikit-learn"), importlib.metadata.version("scikit-learn")),
    }
    for what, (found, wanted) in expected.items():
        if wanted is not None and found != wanted:
            raise ArtifactError(f"reference artifact {folder}: {what} is {found!r}, expected {wanted!r}")
    model_path = folder / manifest.get("model_file", MODEL)
    try:
        payload = model_path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"reference artifact {folder}: cannot read {model_path.name} ({exc.strerror or exc})") from None
    if hashlib.sha256(payload).hexdigest() != manifest.get("model_sha256"):
        raise ArtifactError(f"reference artifact {folder}: {model_path.name} does not match the sha256 in {MANIFEST}")
    try:
        model = pickle.loads(payload)  # noqa: S301 - our own artifact, digest checked above
    except (ModuleNotFoundError, AttributeError) as exc:  # pickles name classes by module path
        raise ArtifactError(f"reference artifact {folder}: written by a harness whose modules have since moved ({exc}); "
                            f"refit it with `harness fit`") from None
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
