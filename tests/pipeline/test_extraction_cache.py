"""The extraction cache: content keys, durability, concurrent writers, corrupt rows."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import sqlite3
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from extractors.base import Extractor
from harness.contracts import Chart, Extraction, Finding, Span
from harness.pipeline import extraction_cache
from harness.pipeline.extraction_cache import FILENAME, ExtractionCache, extract_cached, extractor_fingerprint

HANG_GUARD_S = 60
"""Only to stop a broken test from hanging forever; nothing asserts on time."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = 0.5
    languages: list[str] = ["en"]


class _FakeExtractor(Extractor):
    name = "fake"
    version = "1"
    calibrated = False
    model_id: str | None = None

    def __init__(self, threshold: float = 0.5, model_revision: str | None = None, prompt_version: str | None = None):
        self.config = _Config(threshold=threshold)
        self.model_revision = model_revision
        self.prompt_version = prompt_version
        self.calls: list[list[str]] = []

    def fit(self, train_charts):
        pass

    def extract(self, charts):
        self.calls.append([c.id for c in charts])
        return [_extraction(c.id, c.text[:10]) for c in charts]


def _chart(i: int | str, text: str | None = None) -> Chart:
    return Chart(id=f"c{i}", text=text if text is not None else f"Patient {i} has hypertension.")


def _extraction(chart_id: str, text: str = "hypertension", error: str | None = None) -> Extraction:
    return Extraction(
        chart_id=chart_id,
        extractor="fake",
        findings=[] if error else [Finding(text=text, code="I10", spans=[Span(start=0, end=len(text), text=text)])],
        model_revision="r1",
        error=error,
    )


def _fp() -> str:
    return extractor_fingerprint(_FakeExtractor())


# ----------------------------------------------------------------------------- keys and round trip


def test_round_trip(tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path / "cache")
    assert len(cache) == 0
    assert not (tmp_path / "cache").exists() or not (tmp_path / "cache" / FILENAME).exists()
    charts = [_chart(i) for i in range(3)]
    keys = [ExtractionCache.key(_fp(), c) for c in charts]
    items = [(k, _extraction(c.id)) for k, c in zip(keys, charts, strict=True)]
    cache.put_many(items)
    assert (tmp_path / "cache" / FILENAME).is_file()
    assert len(cache) == 3
    got = cache.get_many([*keys, "0" * 64])
    assert set(got) == set(keys)
    for key, extraction in items:
        assert got[key] == extraction
    assert cache.get_many([]) == {}
    # A fresh instance (another job) reads the same file; WAL mode is on.
    assert ExtractionCache(tmp_path / "cache").get_many(keys[:1]) == {keys[0]: items[0][1]}
    with sqlite3.connect(tmp_path / "cache" / FILENAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_put_overwrites_same_key(tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    key = ExtractionCache.key(_fp(), _chart(1))
    cache.put_many([(key, _extraction("c1", "old"))])
    cache.put_many([(key, _extraction("c1", "new"))])
    assert len(cache) == 1
    assert cache.get_many([key])[key].findings[0].text == "new"


def test_get_many_handles_more_keys_than_one_query(tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    items = [(ExtractionCache.key(_fp(), _chart(i)), _extraction(f"c{i}")) for i in range(1200)]
    cache.put_many(items)
    assert len(cache.get_many([k for k, _ in items])) == 1200


def test_key_follows_chart_content_not_id_or_labels() -> None:
    fp = _fp()
    base = _chart(1, "Patient has hypertension.")
    assert ExtractionCache.key(fp, base) == ExtractionCache.key(fp, _chart(1, "Patient has hypertension."))
    assert ExtractionCache.key(fp, base) != ExtractionCache.key(fp, _chart(1, "Patient has hypotension."))
    # Same text split into pages differently is different input to the pipeline.
    pages = [{"index": 0, "offset": 0, "text": "Patient has "}, {"index": 1, "offset": 12, "text": "hypertension."}]
    paged = Chart(id="c1", text="Patient has hypertension.", pages=pages)
    assert ExtractionCache.key(fp, base) != ExtractionCache.key(fp, paged)
    # Labels and the id are not read by the extractor: they do not change the key.
    labelled = Chart(id="other", text=base.text, gold=[{"code": "I10"}], meta={"x": 1})
    assert ExtractionCache.key(fp, base) == ExtractionCache.key(fp, labelled)


def test_key_follows_extractor_config_revision_and_prompt() -> None:
    chart = _chart(1)
    base = extractor_fingerprint(_FakeExtractor())
    assert base == extractor_fingerprint(_FakeExtractor())
    variants = [
        _FakeExtractor(threshold=0.6),
        _FakeExtractor(model_revision="rev-2"),
        _FakeExtractor(prompt_version="p2"),
    ]
    bumped = _FakeExtractor()
    bumped.version = "2"
    renamed = _FakeExtractor()
    renamed.name = "other"
    with_model = _FakeExtractor()
    with_model.model_id = "some/model"
    fingerprints = {base, *(extractor_fingerprint(e) for e in [*variants, bumped, renamed, with_model])}
    assert len(fingerprints) == 7
    assert len({ExtractionCache.key(fp, chart) for fp in fingerprints}) == 7


def test_fingerprint_of_real_extractors_follows_fit() -> None:
    from extractors.dictionary.extractor import DictionaryExtractor

    extractor = DictionaryExtractor({})
    before = extractor_fingerprint(extractor)
    extractor.model_revision = "learned-lexicon-digest"
    assert extractor_fingerprint(extractor) != before


# ----------------------------------------------------------------------------- errors and corrupt rows


def test_failed_extractions_are_not_cached(tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    ok, failed = ExtractionCache.key(_fp(), _chart(1)), ExtractionCache.key(_fp(), _chart(2))
    cache.put_many([(ok, _extraction("c1")), (failed, _extraction("c2", error="TimeoutError: server busy"))])
    assert set(cache.get_many([ok, failed])) == {ok}
    cache.put_many([(failed, _extraction("c2", error="still down"))])
    assert len(cache) == 1


def test_corrupt_rows_are_misses_and_get_overwritten(tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    keys = [ExtractionCache.key(_fp(), _chart(i)) for i in range(5)]
    cache.put_many([(k, _extraction(f"c{i}")) for i, k in enumerate(keys)])
    with sqlite3.connect(tmp_path / FILENAME) as conn:
        conn.execute("UPDATE extractions SET extraction = ? WHERE key = ?", ("{not json", keys[0]))
        conn.execute("UPDATE extractions SET extraction = ? WHERE key = ?", ('{"chart_id": "c1"}', keys[1]))  # misses fields
        conn.execute("UPDATE extractions SET extraction = ? WHERE key = ?", (b"\xff\xfe\x00garbage", keys[2]))  # not UTF-8
        unknown_field = '{"chart_id": "c3", "extractor": "x", "surprise": 1}'
        conn.execute("UPDATE extractions SET extraction = ? WHERE key = ?", (unknown_field, keys[3]))
    got = cache.get_many(keys)
    assert set(got) == {keys[4]}
    cache.put_many([(keys[0], _extraction("c0"))])
    assert cache.get_many([keys[0]]) == {keys[0]: _extraction("c0")}


# ----------------------------------------------------------------------------- extract_cached


def test_extract_cached_calls_the_extractor_only_on_misses(tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    extractor = _FakeExtractor()
    fp = extractor_fingerprint(extractor)
    charts = [_chart(i) for i in range(4)]
    first, hits = extract_cached(cache, fp, charts[:2], extractor.extract)
    assert hits == 0 and extractor.calls == [["c0", "c1"]]
    second, hits = extract_cached(cache, fp, charts, extractor.extract)
    assert hits == 2 and extractor.calls[-1] == ["c2", "c3"]
    assert second[:2] == first
    assert [e.chart_id for e in second] == ["c0", "c1", "c2", "c3"]
    # Everything is cached now: no call at all; a same-content chart under another id gets its own id back.
    twin = _chart("twin", charts[0].text)
    third, hits = extract_cached(cache, fp, [*charts, twin], extractor.extract)
    assert hits == 5 and len(extractor.calls) == 2
    assert third[-1].chart_id == "ctwin" and third[-1].findings == third[0].findings
    # Another config is another key space.
    other = _FakeExtractor(threshold=0.9)
    _, hits = extract_cached(cache, extractor_fingerprint(other), charts, other.extract)
    assert hits == 0 and other.calls == [["c0", "c1", "c2", "c3"]]


def test_extract_cached_retries_failures(tmp_path: Path) -> None:
    cache = ExtractionCache(tmp_path)
    charts = [_chart(1), _chart(2)]
    calls: list[list[str]] = []

    def flaky(batch):
        calls.append([c.id for c in batch])
        return [_extraction(c.id, error="ConnectionError" if c.id == "c2" and len(calls) == 1 else None) for c in batch]

    out, _ = extract_cached(cache, _fp(), charts, flaky)
    assert out[1].error == "ConnectionError"
    out, hits = extract_cached(cache, _fp(), charts, flaky)
    assert hits == 1 and calls[-1] == ["c2"] and out[1].error is None


# ----------------------------------------------------------------------------- unreadable files


def _warnings_naming(caplog, path: Path) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(path) in r.getMessage()]


def test_a_file_of_random_bytes_is_set_aside_and_the_run_goes_on(tmp_path: Path, caplog) -> None:
    garbage = random.Random(0).randbytes(20_000)
    (tmp_path / FILENAME).write_bytes(garbage)
    extractor = _FakeExtractor()
    charts = [_chart(i) for i in range(3)]

    with caplog.at_level(logging.WARNING, logger="harness.pipeline.extraction_cache"):
        out, hits = extract_cached(ExtractionCache(tmp_path), extractor_fingerprint(extractor), charts, extractor.extract)

    assert hits == 0 and [e.chart_id for e in out] == ["c0", "c1", "c2"] and extractor.calls == [["c0", "c1", "c2"]]
    (warning,) = _warnings_naming(caplog, tmp_path / FILENAME)
    assert "unreadable" in warning and "file is not a database" in warning
    (aside,) = tmp_path.glob(f"{FILENAME}.corrupt-*")
    assert aside.read_bytes() == garbage and aside.name in warning  # kept as it was, for a look
    # the fresh cache kept the new extractions: another job reads them back
    _, hits = extract_cached(ExtractionCache(tmp_path), extractor_fingerprint(extractor), charts, extractor.extract)
    assert hits == 3 and len(extractor.calls) == 1


def test_a_damaged_database_is_set_aside_on_first_use(tmp_path: Path, caplog) -> None:
    cache = ExtractionCache(tmp_path)
    keys = [ExtractionCache.key(_fp(), _chart(i)) for i in range(300)]
    cache.put_many([(k, _extraction(f"c{i}", "hypertension " * 40)) for i, k in enumerate(keys)])
    with sqlite3.connect(tmp_path / FILENAME) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every row in the main file, so the damage below reaches them
    damaged = bytearray((tmp_path / FILENAME).read_bytes())
    damaged[3 * 4096 : 6 * 4096] = random.Random(1).randbytes(3 * 4096)  # the header stays valid: opening succeeds
    (tmp_path / FILENAME).write_bytes(bytes(damaged))

    reopened = ExtractionCache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="harness.pipeline.extraction_cache"):
        assert reopened.get_many(keys) == {}
    (warning,) = _warnings_naming(caplog, tmp_path / FILENAME)
    assert "malformed" in warning
    (aside,) = (p for p in tmp_path.glob(f"{FILENAME}.corrupt-*") if not p.name.endswith(("-wal", "-shm")))
    assert aside.name in warning and not (tmp_path / f"{FILENAME}-wal").exists()  # its WAL went with it
    reopened.put_many([(keys[0], _extraction("c0"))])
    assert reopened.get_many([keys[0]]) == {keys[0]: _extraction("c0")} and len(reopened) == 1


def test_a_busy_database_is_not_mistaken_for_a_corrupt_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(extraction_cache, "BUSY_TIMEOUT_S", 0.2)
    cache = ExtractionCache(tmp_path)
    key = ExtractionCache.key(_fp(), _chart(1))
    cache.put_many([(key, _extraction("c1"))])
    with sqlite3.connect(tmp_path / FILENAME, isolation_level=None) as holder:
        holder.execute("BEGIN EXCLUSIVE")  # another job holds the write lock past the busy timeout
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            cache.put_many([(ExtractionCache.key(_fp(), _chart(2)), _extraction("c2"))])
        holder.execute("ROLLBACK")
    assert not list(tmp_path.glob(f"{FILENAME}.corrupt-*")) and cache.get_many([key]) == {key: _extraction("c1")}


# ----------------------------------------------------------------------------- processes


def _writer(root: str, worker: int, n: int, batch: int) -> None:
    cache = ExtractionCache(Path(root))
    fp = _fp()
    for start in range(0, n, batch):
        items = []
        for i in range(start, min(start + batch, n)):
            # Half the keys are shared between the workers, half are each worker's own.
            chart = _chart(f"shared{i}") if i % 2 == 0 else _chart(f"w{worker}-{i}")
            items.append((ExtractionCache.key(fp, chart), _extraction(chart.id)))
        cache.put_many(items)
        cache.get_many([k for k, _ in items])


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    n, batch = 300, 7
    workers = [ctx.Process(target=_writer, args=(str(tmp_path), w, n, batch)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(HANG_GUARD_S)
    assert [p.exitcode for p in workers] == [0, 0]
    fp = _fp()
    expected = {ExtractionCache.key(fp, _chart(f"shared{i}")) for i in range(0, n, 2)}
    expected |= {ExtractionCache.key(fp, _chart(f"w{w}-{i}")) for w in range(2) for i in range(1, n, 2)}
    cache = ExtractionCache(tmp_path)
    assert len(cache) == len(expected) == n // 2 + n
    got = cache.get_many(sorted(expected))
    assert set(got) == expected


def _killed_writer(root: str, done) -> None:
    cache = ExtractionCache(Path(root))
    fp = _fp()
    batch = 0
    while True:  # writes until killed; reports each committed batch
        items = [(ExtractionCache.key(fp, _chart(f"b{batch}-{i}")), _extraction(f"b{batch}-{i}")) for i in range(20)]
        cache.put_many(items)
        done.put(batch)
        batch += 1


def test_sigkill_mid_run_keeps_everything_already_put(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Queue()
    child = ctx.Process(target=_killed_writer, args=(str(tmp_path), done))
    child.start()
    committed = [done.get(timeout=HANG_GUARD_S) for _ in range(5)]
    os.kill(child.pid, signal.SIGKILL)
    child.join(HANG_GUARD_S)
    assert child.exitcode == -signal.SIGKILL
    assert committed == [0, 1, 2, 3, 4]

    cache = ExtractionCache(tmp_path)
    fp = _fp()
    wanted = [ExtractionCache.key(fp, _chart(f"b{b}-{i}")) for b in committed for i in range(20)]
    got = cache.get_many(wanted)
    assert set(got) == set(wanted)
    assert got[wanted[-1]].chart_id == "b4-19"
    # The file is sound, rows beyond what was reported are whole batches, and the cache takes new writes.
    with sqlite3.connect(tmp_path / FILENAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(cache) % 20 == 0 and len(cache) >= 100
    extra = ExtractionCache.key(fp, _chart("after"))
    cache.put_many([(extra, _extraction("after"))])
    assert extra in cache.get_many([extra])
