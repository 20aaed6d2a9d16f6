"""Content-addressed cache of extractions, shared by the jobs of a sweep.

An entry's key is a sha256 over the extractor's fingerprint (name, version, validated
config, model revision, prompt version, and a wrapper's wrapped extractor) and the content hash of the chart it read
(the degraded chart, when the design degrades). So a rules-only sweep reuses every
extraction and never calls a model again, and a killed run resumes where it stopped.

Storage is one SQLite file ``<root>/extractions.sqlite`` in WAL mode with a busy
timeout, so parallel jobs can read and write it at once. Every ``put_many`` is its own
committed transaction: a process killed after ``put_many`` returned loses nothing.
Failed extractions (``error`` set) are never stored, so a transient failure is retried.
A row that does not parse back into an ``Extraction`` is a miss (and the next put
overwrites it), never a crash. A file SQLite cannot read at all (not a database, or a
malformed one) is moved aside as ``extractions.sqlite.corrupt-<time>-<pid>`` with one
warning, and the run goes on with a fresh cache: losing a cache costs model calls, not a run.

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
from typing import Any, TypeVar

from pydantic import ValidationError

from extractors.base import Extractor
from harness.contracts import Chart, Extraction

log = logging.getLogger(__name__)

FILENAME = "extractions.sqlite"
BUSY_TIMEOUT_S = 120.0
"""How long a writer waits for another job's transaction before giving up."""
_CHUNK = 500
"""Keys per ``IN (...)`` query, well under SQLite's bound-parameter limit."""
_UNREADABLE = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}
"""SQLite's primary result codes for a file that is not a database or is damaged (not for a busy or locked one)."""

T = TypeVar("T")

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
    """Sha256 of what decides an extractor's output, apart from the chart: its ``cache_identity``.

    That covers ``name``, ``version``, the validated config (``config.model_dump(mode="json")``),
    ``model_id``, ``model_revision`` and ``prompt_version`` (None where the extractor has none), and a
    wrapper's wrapped extractor. Take it after ``fit``: fitting may set ``model_revision``.
    """
    return hashlib.sha256(_canonical(extractor.cache_identity())).hexdigest()


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

    def _using(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on a fresh connection; when the file turns out unreadable, set it aside and do ``work`` on a fresh cache."""
        try:
            return self._once(work)
        except sqlite3.DatabaseError as error:
            if not _unreadable(error):
                raise
            self._set_aside(error)
        return self._once(work)

    def _once(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connect()
        try:
            return work(conn)
        finally:
            conn.close()

    def _set_aside(self, error: sqlite3.DatabaseError) -> None:
        """Move an unreadable cache file (with its WAL) aside, kept for a post-mortem, unless another job already did."""
        if not self._still_unreadable():
            return
        aside = self.path.with_name(f"{FILENAME}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            try:
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            except FileNotFoundError:
                pass
        self._ready_pid = None
        log.warning("extraction cache %s is unreadable (%s): moved it to %s and started a fresh cache", self.path, error,
                    aside.name)

    def _still_unreadable(self) -> bool:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        try:
            return conn.execute("PRAGMA quick_check").fetchone()[0] != "ok"
        except sqlite3.DatabaseError as error:
            return _unreadable(error)
        finally:
            conn.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, Extraction]:
        """The cached extractions among ``keys``; a missing or unreadable row is simply absent."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> dict[str, Extraction]:
            found: dict[str, Extraction] = {}
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
            return found

        return self._using(read)

    def put_many(self, items: Sequence[tuple[str, Extraction]]) -> None:
        """Store ``(key, extraction)`` pairs in one committed transaction; failed extractions are skipped."""
        rows = [(key, extraction.model_dump_json(), time.time()) for key, extraction in items if extraction.error is None]
        if not rows:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO extractions (key, extraction, created) VALUES (?, ?, ?)", rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        self._using(write)

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        return self._using(lambda conn: int(conn.execute("SELECT COUNT(*) FROM extractions").fetchone()[0]))

    def __repr__(self) -> str:
        return f"ExtractionCache({str(self.root)!r})"


def _unreadable(error: sqlite3.DatabaseError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _UNREADABLE  # extended codes keep the primary in the low byte


def cached_extractions(cache: ExtractionCache, fingerprint: str,
                       charts: Sequence[Chart]) -> tuple[list[str], dict[int, Extraction]]:
    """The cache key of every chart, and the cached extraction of each chart that has one (by position), rebound to
    the asking chart's id (the key is content, not id)."""
    keys = [ExtractionCache.key(fingerprint, chart) for chart in charts]
    cached = cache.get_many(keys)
    found = {}
    for i, (chart, key) in enumerate(zip(charts, keys, strict=True)):
        if key in cached:
            hit = cached[key]
            found[i] = hit if hit.chart_id == chart.id else hit.model_copy(update={"chart_id": chart.id})
    return keys, found


def extract_cached(
    cache: ExtractionCache,
    fingerprint: str,
    charts: Sequence[Chart],
    extract: Callable[[Sequence[Chart]], list[Extraction]],
) -> tuple[list[Extraction], int]:
    """Extractions for ``charts`` in order, calling ``extract`` only on the misses; returns them and the hit count.

    New extractions without an error are stored before returning, so a killed run keeps them.
    """
    keys, found = cached_extractions(cache, fingerprint, charts)
    missing = [i for i in range(len(charts)) if i not in found]
    fresh = extract([charts[i] for i in missing]) if missing else []
    if len(fresh) != len(missing):
        raise RuntimeError(f"extract returned {len(fresh)} extractions for {len(missing)} charts")
    cache.put_many([(keys[i], extraction) for i, extraction in zip(missing, fresh, strict=True)])
    found.update(zip(missing, fresh, strict=True))
    return [found[i] for i in range(len(charts))], len(charts) - len(missing)
