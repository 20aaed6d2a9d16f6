"""Download a dataset named in ``datasets/<name>/manifest.yaml`` and verify it against the manifest's checksums.

    harness download codiesp --dest ~/data      # then: export HARNESS_DATA_DIR=~/data

The manifest pins one digest per split folder (sha256 over the sorted
``<relative path>\\t<file sha256>`` lines), so a corrupted or different release
is caught file-tree by file-tree after extraction.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

MANIFESTS = Path(__file__).resolve().parents[2] / "datasets"


def load_manifest(name: str) -> dict[str, Any]:
    import yaml

    path = MANIFESTS / name / "manifest.yaml"
    if not path.is_file():
        known = sorted(p.parent.name for p in MANIFESTS.glob("*/manifest.yaml"))
        raise SystemExit(f"error: no manifest for dataset {name!r}; known: {', '.join(known)}")
    return yaml.safe_load(path.read_text())


def tree_digest(folder: Path) -> tuple[str, int]:
    """(digest, file count) of every file under ``folder``."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        lines.append(f"{path.relative_to(folder).as_posix()}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


def verify(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems found comparing ``root/<split>/`` with the manifest (empty when all match)."""
    problems = []
    for split, expected in manifest["splits"].items():
        folder = root / split
        if not folder.is_dir():
            problems.append(f"{folder}: missing")
            continue
        digest, count = tree_digest(folder)
        if (digest, count) != (expected["sha256"], expected["files"]):
            problems.append(f"{folder}: {count} files, sha256 {digest[:12]}..., "
                            f"expected {expected['files']} files, sha256 {expected['sha256'][:12]}...")
    return problems


def download(name: str, dest: Path) -> Path:
    """Download the dataset ``name`` into ``dest`` (its manifest's folder below it), verified; returns that folder."""
    manifest = load_manifest(name)
    target = dest / manifest["folder"]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive.zip"
        print(f"downloading {manifest['archive_url']}", file=sys.stderr)
        urllib.request.urlretrieve(manifest["archive_url"], archive)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        extracted = Path(tmp) / manifest["archive_root"]
        problems = verify(extracted, manifest)
        if problems:
            raise SystemExit("error: downloaded data does not match the manifest:\n  " + "\n  ".join(problems))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(extracted, target, dirs_exist_ok=True)
    return target
