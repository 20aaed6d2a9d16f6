"""Names of a sweep's job folders: ``hydra.sweep.subdir`` is ``<job number>_${harness.job_folder:<overrides>}``.

Hydra names a job's folder after its overrides (``hydra.job.override_dirname``, ``key=value,key=value``). A value may
be a path (``dataset.path=../../elsewhere/charts.jsonl``) whose ``/`` and ``..`` would put the folder outside the sweep
folder, or so long that the name is refused by the file system. The ``harness.job_folder`` resolver keeps each safe
value as it is and writes an unsafe one as its file name and a hash (``dataset.path=charts.jsonl-1f0c5a9e``), so a job
folder is always one folder inside the sweep folder. It is a resolver, so every launcher (basic, joblib, submitit on
SLURM) names folders the same way: each resolves the sub-folder in the process that runs the job.
"""

from __future__ import annotations

import hashlib
import re

RESOLVER = "harness.job_folder"
MAX_VALUE_CHARS = 48
"""A value longer than this is shortened (its hash keeps it apart from others)."""
MAX_NAME_BYTES = 200
"""Longest folder name written; file systems refuse names over 255 bytes, and Hydra prefixes the job number."""
_STEM_CHARS = 24
_ITEM = re.compile(r",(?=[\w+~][\w./@+~-]*=)")
"""Where one override of the dirname ends: a comma before the next ``key=`` (a value may hold commas)."""
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")
"""Characters a folder name must not hold: path separators (``\\`` too, for folders copied to Windows) and controls."""


def job_folder(override_dirname: str) -> str:
    """``override_dirname`` as a name of one folder: no ``/``, no ``..``, at most :data:`MAX_NAME_BYTES` bytes."""
    name = ",".join(_item(item) for item in _ITEM.split(override_dirname))
    if len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES:
        return name
    return f"{_cut(name, MAX_NAME_BYTES - 9)}-{_hash(name)}"


def register() -> None:
    """Make ``${harness.job_folder:...}`` known to OmegaConf (idempotent). Called when ``harness.cli.run`` is imported:
    launchers that run jobs in other processes (joblib, submitit) import it there to call the job."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver(RESOLVER, job_folder, replace=True)


def _item(item: str) -> str:
    key, sep, value = item.partition("=")
    if not sep:
        return _safe(item, MAX_VALUE_CHARS)
    return f"{_safe(key, MAX_NAME_BYTES)}={_safe(value, MAX_VALUE_CHARS)}"  # a key is a config path: long, yet known


def _safe(text: str, max_chars: int) -> str:
    """``text`` if it is a harmless part of a name; else its last path component, cleaned and cut, and its hash."""
    if len(text) <= max_chars and ".." not in text and not _UNSAFE.search(text):
        return text
    stem = _UNSAFE.sub("_", re.split(r"[/\\]", text)[-1])
    stem = re.sub(r"\.\.+", ".", stem).lstrip(".")[:_STEM_CHARS]
    return f"{stem}-{_hash(text)}" if stem else _hash(text)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _cut(text: str, max_bytes: int) -> str:
    """The longest start of ``text`` that fits in ``max_bytes`` UTF-8 bytes."""
    return text.encode("utf-8", "surrogatepass")[:max_bytes].decode("utf-8", "ignore")
