"""Content-addressed cache of extractions, shared by the jobs of a sweep.

An entry's key is a sha256 over the extractor's fingerprint (name, version, validated
config, model revision, prompt version) and the content hash of the chart it read
(the degraded chart, when the design degrades). So a rules-only sweep reuses every
extraction and never calls a model again, and a killed run resumes where it stopped.

Storage is one SQLite file ``<root>/extractions.sqlite`` in WAL mode with a busy
timeout, so parallel jobs can read and write it at once. Every ``put_many`` is its own
committed transaction: a process killed after ``put_many`` returned loses nothing.
Failed extractions (``error`` set) are never stored, so a transient failure is retried.
A row that does not parse back into an ``Extraction`` is a miss (and the next put
overwrites it), never a crash.

Keys depend on chart content, not on chart ids: two charts with the same text share an
entry, so callers rebind ``chart_id`` on a hit (``extract_cached`` does).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extractors.base import Extractor
from harness.contracts import Chart, Extraction

log = logging.getLogger(__name__)

FILENAME = "extractions.sqlite"
BUSY_TIMEOUT_S = 120.0
"""How long a writer waits for another job's transaction before giving up."""
_CHUNK = 500
"""Keys per ``IN (...)`` query, well under SQLite's bound-parameter limit."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS extractions (
    key TEXT PRIMARY KEY,
    extraction TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")).encode()


def extractor_fingerprint(extractor: Extractor) -> str:
    """Sha256 of what decides an extractor's output, apart from the chart.

    Covers ``name``, ``version``, the validated config (``config.model_dump(mode="json")``),
    ``model_id``, ``model_revision`` and ``prompt_version`` (None where the extractor has none).
    Take it after ``fit``: fitting may set ``model_revision``.
    """
    payload = {
        "name": extractor.name,
        "version": extractor.version,
        "config": extractor.config.model_dump(mode="json"),
        "model_id": extractor.model_id,
        "model_revision": extractor.model_revision,
        "prompt_version": extractor.prompt_version,
    }
    return hashlib.sha256(_canonical(payload)).hexdigest()


class ExtractionCache:
    """Extractions by content key, in ``<root>/extractions.sqlite``. Safe across processes."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.path = self.root / FILENAME
        self._ready_pid: int | None = None

    # ----------------------------------------------------------------------------- keys

    @staticmethod
    def key(extractor_fingerprint: str, chart: Chart) -> str:
        """Sha256 over the extractor fingerprint and ``chart.content_hash()`` (text and pages, not labels or id)."""
        return hashlib.sha256(_canonical(["extraction-cache/1", extractor_fingerprint, chart.content_hash()])).hexdigest()

    # ----------------------------------------------------------------------------- storage

    def _connect(self) -> sqlite3.Connection:
        """A fresh connection per call: nothing is shared across threads or forked processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if self._ready_pid != os.getpid():
                # journal_mode is stored in the file; switching it needs a moment without other writers.
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(_SCHEMA)
                self._ready_pid = os.getpid()
            conn.execute("PRAGMA synchronous = FULL")
        except BaseException:
            conn.close()
            raise
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, Extraction]:
        """The cached extractions among ``keys``; a missing or unreadable row is simply absent."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Extraction] = {}
        if not wanted:
            return found
        conn = self._connect()
        try:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                # As a blob, so a row holding bytes that are not UTF-8 is a miss, not a decode error for the whole query.
                rows = conn.execute(f"SELECT key, CAST(extraction AS BLOB) FROM extractions WHERE key IN ({marks})", chunk)
                for key, raw in rows:
                    try:
                        found[key] = Extraction.model_validate_json(bytes(raw or b"").decode("utf-8"))
                    except (UnicodeDecodeError, ValidationError, ValueError, TypeError) as error:
                        log.warning("extraction cache: unreadable row %s treated as a miss (%s)", key[:16], type(error).__name__)
        finally:
            conn.close()
        return found

    def put_many(self, items: Sequence[tuple[str, Extraction]]) -> None:
        """Store ``(key, extraction)`` pairs in one committed transaction; failed extractions are skipped."""
        rows = [(key, extraction.model_dump_json(), time.time()) for key, extraction in items if extraction.error is None]
        if not rows:
            return
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO extractions (key, extraction, created) VALUES (?, ?, ?)", rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        conn = self._connect()
        try:
            return int(conn.execute("SELECT COUNT(*) FROM extractions").fetchone()[0])
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"ExtractionCache({str(self.root)!r})"


def extract_cached(
    cache: ExtractionCache,
    fingerprint: str,
    charts: Sequence[Chart],
    extract: Callable[[Sequence[Chart]], list[Extraction]],
) -> tuple[list[Extraction], int]:
    """Extractions for ``charts`` in order, calling ``extract`` only on the misses; returns them and the hit count.

    Hits are rebound to the asking chart's id (the key is content, not id). New
    extractions without an error are stored before returning, so a killed run keeps them.
    """
    keys = [ExtractionCache.key(fingerprint, chart) for chart in charts]
    cached = cache.get_many(keys)
    missing = [i for i, key in enumerate(keys) if key not in cached]
    fresh = extract([charts[i] for i in missing]) if missing else []
    if len(fresh) != len(missing):
        raise RuntimeError(f"extract returned {len(fresh)} extractions for {len(missing)} charts")
    cache.put_many([(keys[i], extraction) for i, extraction in zip(missing, fresh, strict=True)])
    by_index = dict(zip(missing, fresh, strict=True))
    out: list[Extraction] = []
    for i, (chart, key) in enumerate(zip(charts, keys, strict=True)):
        if i in by_index:
            out.append(by_index[i])
        else:
            hit = cached[key]
            out.append(hit if hit.chart_id == chart.id else hit.model_copy(update={"chart_id": chart.id}))
    return out, len(charts) - len(missing)
