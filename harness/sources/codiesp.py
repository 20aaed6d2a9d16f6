"""CodiEsp (CLEF eHealth 2020): Spanish clinical cases coded in CIE-10-ES, with an English translation.

Layout read from ``<data_dir>/codiesp/<split>/``: ``text_files/<id>.txt`` (Spanish),
``text_files_en/<id>.txt`` (machine translation, sentence-split, no offsets),
``<split>D.tsv`` / ``<split>P.tsv`` (document-level diagnosis / procedure codes),
``<split>X.tsv`` (code, evidence text and character offsets into the Spanish text;
discontinuous evidence is written ``"s1 e1;s2 e2"``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from coders.codeset import canonical_code, code_set, is_well_formed
from harness.config import DatasetConfig
from harness.contracts import Chart, CodeSystem, GoldCode, Span
from harness.errors import DataError
from harness.registry import DATASETS
from harness.sources.chart_dataset import cached_charts, files_digest
from harness.sources.loaded import LoadedCharts, Purpose

_LABEL_FILES: dict[str, CodeSystem] = {"D": "icd10cm", "P": "icd10pcs"}
_X_LABELS: dict[str, CodeSystem] = {"DIAGNOSTICO": "icd10cm", "PROCEDIMIENTO": "icd10pcs"}


def split_dir(config: DatasetConfig) -> Path:
    folder = config.resolved_data_dir() / "codiesp" / config.split
    if not folder.is_dir():
        raise DataError(f"CodiEsp split {config.split!r} not found at {folder} (see datasets/codiesp/README.md to download it)")
    return folder


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not valid UTF-8 (byte {error.start}: {error.reason})") from None


def _tsv_rows(path: Path, n_fields: int) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise DataError(f"label file {path} does not exist")
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != n_fields:
            raise DataError(f"{path}:{lineno}: expected {n_fields} tab-separated fields, found {len(fields)}")
        yield lineno, fields


def _gold_code(raw: str, system: CodeSystem, where: str, config: DatasetConfig) -> str:
    code = canonical_code(raw, system)
    if not is_well_formed(code, system):
        raise DataError(f"{where}: malformed {system} code {raw!r}")
    if config.unknown_gold_codes == "error" and code not in code_set(system, config.code_set_year):
        raise DataError(f"{where}: code {raw!r} does not exist in {system} {config.code_set_year}")
    return code


def _evidence(text: str, positions: str, where: str) -> list[Span]:
    spans = []
    for segment in positions.split(";"):
        try:
            start, end = (int(v) for v in segment.split())
        except ValueError:
            raise DataError(f"{where}: bad evidence position {segment!r}") from None
        if not 0 <= start <= end <= len(text):
            raise DataError(f"{where}: evidence offsets {start}-{end} fall outside the text ({len(text)} characters)")
        spans.append(Span(start=start, end=end, text=text[start:end]))
    return spans


def _gold(code: str, system: CodeSystem, spans: list[Span], mentions: list[list[Span]]) -> GoldCode:
    """A gold code with its spans in text order and, by index into them, its discontinuous mentions."""
    evidence = sorted(spans, key=lambda s: (s.start, s.end))
    taken: set[int] = set()
    discontinuous = []
    for parts in mentions:
        indexes = []
        for part in parts:
            k = next(i for i, s in enumerate(evidence) if i not in taken and s == part)
            taken.add(k)
            indexes.append(k)
        discontinuous.append(sorted(indexes))
    return GoldCode(code=code, system=system, evidence=evidence, discontinuous=discontinuous)


def _produce(folder: str, split: str, language: str, config_json: str, fingerprint: str) -> Iterator[Chart]:
    del fingerprint  # only part of the cache key
    config = DatasetConfig.model_validate_json(config_json)
    root = Path(folder)
    codes: dict[str, dict[tuple[str, CodeSystem], list[Span]]] = defaultdict(dict)
    pieces: dict[str, dict[tuple[str, CodeSystem], list[list[Span]]]] = defaultdict(lambda: defaultdict(list))
    for suffix, system in _LABEL_FILES.items():
        if system not in config.code_systems:
            continue
        path = root / f"{split}{suffix}.tsv"
        for lineno, (chart_id, raw) in _tsv_rows(path, 2):
            codes[chart_id].setdefault((_gold_code(raw, system, f"{path}:{lineno}", config), system), [])

    texts_dir = root / ("text_files" if language == "es" else "text_files_en")
    text_paths = {p.stem: p for p in texts_dir.glob("*.txt")}
    for chart_id in sorted(codes):
        if chart_id not in text_paths:
            raise DataError(f"{root / f'{split}D.tsv'} names case {chart_id!r} "
                            f"but {texts_dir / (chart_id + '.txt')} does not exist")

    texts = {chart_id: read_text(path) for chart_id, path in text_paths.items()}
    mismatched: dict[str, int] = defaultdict(int)
    if language == "es":  # offsets point into the Spanish text only
        path = root / f"{split}X.tsv"
        for lineno, (chart_id, label, raw, reference, positions) in _tsv_rows(path, 5):
            system = _X_LABELS.get(label)
            where = f"{path}:{lineno}"
            if system is None:
                raise DataError(f"{where}: unknown label {label!r} (expected DIAGNOSTICO or PROCEDIMIENTO)")
            if system not in config.code_systems:
                continue
            if chart_id not in texts:
                raise DataError(f"{where}: case {chart_id!r} has no text file in {texts_dir}")
            key = (_gold_code(raw, system, where, config), system)
            spans = _evidence(texts[chart_id], positions, where)
            if " ".join(s.text for s in spans) != reference:
                mismatched[chart_id] += 1
            codes[chart_id].setdefault(key, []).extend(spans)
            if len(spans) > 1:
                pieces[chart_id][key].append(spans)

    for chart_id in sorted(texts):
        gold = [
            _gold(code, system, spans, pieces[chart_id][(code, system)])
            for (code, system), spans in sorted(codes.get(chart_id, {}).items())
        ]
        meta = {"source": "codiesp", "split": split, "file": f"{texts_dir.name}/{chart_id}.txt"}
        if mismatched[chart_id]:
            meta["evidence_text_mismatches"] = mismatched[chart_id]
        yield Chart(id=chart_id, language=language, text=texts[chart_id], gold=gold, meta=meta)


def _load(config: DatasetConfig, language: str) -> list[Chart]:
    folder = split_dir(config)
    files = [p for p in folder.rglob("*") if p.is_file()]
    return cached_charts(
        _produce,
        config.cache_dir,
        folder=str(folder),
        split=config.split,
        language=language,
        config_json=config.model_dump_json(exclude={"limit", "num_shards", "shard", "cache_dir"}),
        fingerprint=files_digest(files),
    )


@DATASETS.register("codiesp_es")
def load_codiesp_es(config: DatasetConfig, purpose: Purpose = "evaluate") -> LoadedCharts:
    """Spanish cases with D/P codes and evidence offsets (every chart names its split, so ``purpose`` changes nothing)."""
    return LoadedCharts(charts=_load(config, "es"))


@DATASETS.register("codiesp_en")
def load_codiesp_en(config: DatasetConfig, purpose: Purpose = "evaluate") -> LoadedCharts:
    """English translation with document-level codes (the translation has no offsets)."""
    return LoadedCharts(charts=_load(config, "en"))
