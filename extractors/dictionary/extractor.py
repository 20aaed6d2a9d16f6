"""The ``dictionary`` extractor: term matching with ConText assertions, no model.

Two term sources feed one longest-match matcher:

- ICD terms: every ICD-10-CM description, inclusion term and Includes note of the code-set year, with
  matching-friendly variants (non-essential parenthetical modifiers optional, trailing
  "unspecified"/"NOS"/encounter qualifiers dropped). They are English, so by default they
  are used for English charts only. The index takes a while to build over ~98k codes and
  is cached on disk as JSON (never a pickle: the cache may be shared, and reading it must run no code),
  keyed by the ``simple-icd-10-cm`` version and the settings that shape it.
- Train lexicon: the normalised text of every gold evidence span of the training charts,
  mapped to the codes it was annotated with.

``fit`` runs the matcher over the training charts and gives every term the smoothed
precision it had there (how often an occurrence was annotated with the code, whatever
its assertion: the annotation scheme decides whether negated mentions get coded), so a
finding's confidence means something to routing and ranking; terms below
``min_term_precision`` are dropped. A term training never met keeps its prior as confidence,
and its findings say so (``confidence_estimated`` false: routing sends them to review). Without
labelled training charts (none, or none with a gold code) nothing is learned: the ICD terms run
at their prior. Assertions (ConText cues, ``extractors.dictionary.assertion``) are reported on
every finding; which ones get coded is the rule pack's decision. Terms inside section headings
(``extractors.dictionary.headings``) are not findings.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from coders.codeset import canonical_code, code_set
from extractors.base import Extractor, LearnsFromCharts, extract_each
from extractors.dictionary.assertion import AssertionDetector
from extractors.dictionary.headings import Headings
from extractors.dictionary.term_matching import TermMatcher, normalize_term
from harness.atomic_files import write_text_atomic
from harness.contracts import DEFAULT_CODE_SET_YEAR, Chart, CodeSystem, Extraction, Finding, Span, digest
from harness.registry import EXTRACTORS

log = logging.getLogger(__name__)

_INDEX_FORMAT = 1
"""Bumped whenever ICD term variants or their normalisation change (invalidates cached indexes)."""

TermSource = Literal["train_lexicon", "icd_terms"]


class DictionaryConfig(BaseModel):
    """Settings of the dictionary extractor (``conf/extractor/dictionary.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["dictionary"] = "dictionary"
    """Registry name of the extractor."""
    train_split: str | None = "train"
    """Split of the run's dataset that the pipeline passes to ``fit``; None learns nothing."""
    use_icd_terms: bool = True
    """Match ICD-10-CM descriptions and inclusion terms."""
    icd_term_languages: list[str] = Field(default_factory=lambda: ["en"])
    """Chart languages the (English) ICD terms are matched in."""
    use_train_lexicon: bool = True
    """Learn terms from the gold evidence spans of the training charts."""
    code_set_year: int = DEFAULT_CODE_SET_YEAR
    """ICD-10-CM fiscal year whose terms are matched."""
    max_term_tokens: int = Field(default=12, ge=1)
    """Longest term, in words; longer terms are not indexed."""
    min_term_chars: int = Field(default=2, ge=1)
    """Shortest term, in characters of its normalised form."""
    min_term_precision: float = Field(default=0.5, ge=0.0, le=1.0)
    """Terms whose smoothed training precision is below this are dropped."""
    icd_term_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    """Prior precision of an ICD-table term (its confidence when training never saw it)."""
    lexicon_prior: float = Field(default=0.5, ge=0.0, le=1.0)
    """Prior precision of a train-lexicon term."""
    prior_weight: float = Field(default=1.0, gt=0.0)
    """Pseudo-occurrences of the prior in a term's smoothed precision."""
    assertion_scope: int = Field(default=8, ge=0)
    """Most words between an assertion pre-cue (e.g. "no", "history of") and the concept it modifies."""
    match_in_headings: bool = False
    """Also report terms inside section headings ("Hypertension:" alone on a line); off because a heading
    names a section or template field, and the body names the condition when the patient has it."""
    cache_dir: str | None = None
    """Where the ICD term index is cached; None: $HARNESS_CACHE_DIR, else ~/.cache/coding-harness."""


@dataclass(frozen=True, slots=True)
class _Term:
    """What a matched term stands for."""

    code: str
    system: CodeSystem
    source: TermSource
    confidence: float
    estimated: bool
    """Whether training met the term, so ``confidence`` is measured rather than the prior."""


@EXTRACTORS.register("dictionary")
class DictionaryExtractor(LearnsFromCharts, Extractor):
    """Term matching over ICD-10-CM terms and a lexicon learned from training evidence.

    Confidences are smoothed training precisions of the matched terms, not calibrated probabilities. Without labelled
    charts it runs untrained: ICD-10-CM terms match at their prior confidence, flagged unestimated."""

    name = "dictionary"
    config_model = DictionaryConfig
    config: DictionaryConfig
    version = "3"
    """3: negated lists and context cues (``assertion.py``); a new version keeps cached extractions of 2 from being reused."""

    def __init__(self, config: dict):
        super().__init__(config)
        self._lexicon: dict[str, Counter[tuple[str, CodeSystem]]] = {}
        self._terms: dict[str, _Term] = {}
        self._dropped: set[str] = set()
        self._fitted = False
        self._matchers: dict[bool, TermMatcher] = {}
        self._detectors: dict[str, AssertionDetector] = {}
        self._icd: dict[str, str] | None = None
        self._untrained_noted = False
        self.model_revision: str | None = None
        """Digest of what ``fit`` learned (None before), so cached extractions follow the training data."""

    # ----------------------------------------------------------------------------- learning

    def fit(self, train_charts: Sequence[Chart]) -> None:
        """Learn the lexicon from gold evidence spans, then measure every term's precision on the same charts.

        Charts without any gold code teach nothing: with none labelled, the ICD terms run untrained.
        """
        cfg = self.config
        if not any(chart.gold for chart in train_charts):
            # unlabelled occurrences would count as misses and unlearn every term they contain
            train_charts = []
            self._note_untrained()
        self._lexicon = self._learn_lexicon(train_charts) if cfg.use_train_lexicon else {}
        self._terms, self._dropped, self._matchers, self._fitted = {}, set(), {}, False

        occurrences: Counter[str] = Counter()
        hits: dict[str, Counter[tuple[str, CodeSystem]]] = defaultdict(Counter)
        for chart in train_charts:
            evidence: dict[tuple[str, CodeSystem], list[tuple[int, int]]] = defaultdict(list)
            for gold in chart.gold:
                evidence[(canonical_code(gold.code, gold.system), gold.system)].extend((s.start, s.end) for s in gold.evidence)
            # Every occurrence counts, whatever its assertion: whether negated or historical mentions
            # get coded is the annotation scheme's call (CodiEsp codes "no hematuria"), so precision learns it.
            for match in self._matcher(chart.language).find(chart.text):
                occurrences[match.term] += 1
                for candidate in self._candidates(match.term, chart.language):
                    spans = evidence.get(candidate)
                    # Charts labelled per document (no evidence spans) count a hit when the code is there at all.
                    if spans is not None and (not spans or any(s < match.end and match.start < e for s, e in spans)):
                        hits[match.term][candidate] += 1

        icd = self._icd_index() if any(self._uses_icd(chart.language) for chart in train_charts) else {}
        for term in self._lexicon.keys() | occurrences.keys():
            lexicon_codes = self._lexicon.get(term, Counter())
            candidates = set(lexicon_codes) | ({(icd[term], "icd10cm")} if term in icd else set())
            best = max(candidates, key=lambda c: (hits[term][c], lexicon_codes[c], c in lexicon_codes, c))
            source: TermSource = "train_lexicon" if best in lexicon_codes else "icd_terms"
            prior = cfg.lexicon_prior if source == "train_lexicon" else cfg.icd_term_confidence
            confidence = (hits[term][best] + cfg.prior_weight * prior) / (occurrences[term] + cfg.prior_weight)
            if confidence >= cfg.min_term_precision:
                self._terms[term] = _Term(best[0], best[1], source, round(confidence, 4),
                                          estimated=occurrences[term] > 0)
            else:
                self._dropped.add(term)
        self._matchers, self._fitted = {}, True
        self.model_revision = digest(
            {"terms": sorted((t, e.code, e.confidence, e.estimated) for t, e in self._terms.items()),
             "dropped": sorted(self._dropped)}
        )

    def _note_untrained(self) -> None:
        """Say once that nothing was learned: every confidence is then a prior."""
        if self._untrained_noted:
            return
        self._untrained_noted = True
        if self.config.use_icd_terms:
            log.info("dictionary: no labelled training charts; matching ICD-10-CM terms untrained "
                     "(confidences are priors, so such codes route to review)")
        else:
            log.warning("dictionary: no labelled training charts and use_icd_terms is false: there is no term to match")

    def _learn_lexicon(self, charts: Iterable[Chart]) -> dict[str, Counter[tuple[str, CodeSystem]]]:
        lexicon: dict[str, Counter[tuple[str, CodeSystem]]] = defaultdict(Counter)
        for chart in charts:
            for gold in chart.gold:
                code = (canonical_code(gold.code, gold.system), gold.system)
                for span in gold.evidence:
                    term = normalize_term(span.text or chart.text[span.start : span.end])
                    if self._indexable(term):
                        lexicon[term][code] += 1
        return dict(lexicon)

    def _indexable(self, term: str) -> bool:
        return len(term) >= self.config.min_term_chars and term.count(" ") < self.config.max_term_tokens

    # ----------------------------------------------------------------------------- matching

    def _uses_icd(self, language: str) -> bool:
        return self.config.use_icd_terms and language.lower().split("-")[0] in self.config.icd_term_languages

    def _candidates(self, term: str, language: str) -> set[tuple[str, CodeSystem]]:
        candidates = set(self._lexicon.get(term, ()))
        if self._uses_icd(language) and term in (icd := self._icd_index()):
            candidates.add((icd[term], "icd10cm"))
        return candidates

    def _matcher(self, language: str) -> TermMatcher:
        uses_icd = self._uses_icd(language)
        if uses_icd not in self._matchers:
            terms = set(self._terms) if self._fitted else set(self._lexicon)
            if uses_icd:
                terms |= self._icd_index().keys() - self._dropped
            self._matchers[uses_icd] = TermMatcher(terms, self.config.max_term_tokens)
        return self._matchers[uses_icd]

    def _detector(self, language: str) -> AssertionDetector:
        if language not in self._detectors:
            self._detectors[language] = AssertionDetector(language, max_scope=self.config.assertion_scope)
        return self._detectors[language]

    def _term(self, term: str) -> _Term:
        known = self._terms.get(term)
        if known is not None:
            return known
        return _Term(self._icd_index()[term], "icd10cm", "icd_terms", self.config.icd_term_confidence, estimated=False)

    def _icd_index(self) -> dict[str, str]:
        if self._icd is None:
            cfg = self.config
            cache_dir = cfg.cache_dir or os.environ.get("HARNESS_CACHE_DIR") or str(Path.home() / ".cache" / "coding-harness")
            self._icd = load_icd_index(cfg.code_set_year, cfg.max_term_tokens, cfg.min_term_chars, cache_dir)
        return self._icd

    # ----------------------------------------------------------------------------- extraction

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order; a chart that fails gets ``error`` set."""
        if not self._fitted:
            self._note_untrained()
        return extract_each(self.name, charts, self._findings, model_revision=self.model_revision)

    def _findings(self, chart: Chart) -> list[Finding]:
        matches = self._matcher(chart.language).find(chart.text)
        if not self.config.match_in_headings:
            headings = Headings(chart.text)
            matches = [m for m in matches if not headings.contain(m.start, m.end)]
        assertions = self._detector(chart.language).assertions(chart.text, [(m.start, m.end) for m in matches])
        findings = []
        for match, assertion in zip(matches, assertions, strict=True):
            term = self._term(match.term)
            surface = chart.text[match.start : match.end]
            findings.append(
                Finding(
                    text=surface,
                    kind="procedure" if term.system == "icd10pcs" else "diagnosis",
                    code=term.code,
                    system=term.system,
                    assertion=assertion,
                    spans=[Span(start=match.start, end=match.end, text=surface, page=chart.page_of(match.start))],
                    attributes={"source": term.source, "term": match.term},
                    confidence=term.confidence,
                    confidence_estimated=term.estimated,
                )
            )
        return findings


# --------------------------------------------------------------------------------- ICD term index

# Qualifiers a clinician rarely writes: a variant without them is indexed too.
_DROPPABLE = [
    re.compile(r",?\s+NOS\b"),
    re.compile(r",\s*not elsewhere classified", re.I),
    re.compile(r",\s*(?:site |organism |type )?not specified$", re.I),
    re.compile(r",\s*unspecified(?:\s+\w+)?$", re.I),
    re.compile(r",\s*(?:initial|subsequent) encounter\b.*$", re.I),
    re.compile(r",\s*sequela$", re.I),
    re.compile(r"^unspecified\s+", re.I),
]
_BRACKETS = re.compile(r"\[[^\]]*\]")
_PARENS = re.compile(r"\(([^)]*)\)")
_MAX_OPTIONAL = 3
"""Up to this many parenthetical modifiers are optional one by one; beyond, all or none."""


def icd_term_variants(text: str) -> list[str]:
    """Forms of an ICD description or inclusion term worth matching, the term itself first.

    ``"Essential (primary) hypertension"`` -> the term, ``"Essential primary hypertension"``,
    ``"Essential hypertension"``; ``"Pneumonia, unspecified organism"`` -> also ``"Pneumonia"``.
    Square brackets hold abbreviations or synonyms and are dropped.
    """
    base = _BRACKETS.sub(" ", text)
    groups = _PARENS.findall(base)
    if 0 < len(groups) <= _MAX_OPTIONAL:
        # Each modifier is optional on its own: every subset of the parenthesised words is kept.
        pieces = _PARENS.split(base)  # text, group, text, group, ..., text
        forms = [text]
        for mask in range(2 ** len(groups) - 1, -1, -1):
            forms.append(" ".join(p for i, p in enumerate(pieces) if i % 2 == 0 or mask >> (i // 2) & 1))
    else:
        forms = [text, _PARENS.sub(r"\1", base), _PARENS.sub(" ", base)]
    variants = list(forms)
    for form in forms:
        stripped = form
        for pattern in _DROPPABLE:
            stripped = pattern.sub("", stripped).strip()
            variants.append(stripped)
    return list(dict.fromkeys(v for v in variants if v))


def _build_icd_index(year: int, max_tokens: int, min_chars: int) -> dict[str, str]:
    """Normalised term -> the ICD-10-CM code it names best (descriptions, inclusion terms, Includes notes).

    Several codes share many terms (a category and its unspecified child, the
    encounter variants of an injury). The code whose own wording the term is wins
    over one it was derived from, then a billable code, then the shortest code.
    """
    table = code_set("icd10cm", year)
    best: dict[str, tuple[int, bool, int, str]] = {}
    for code in table.codes():
        billable = table.is_billable(code)
        for text in [table.description(code), *table.inclusion_terms(code), *table.includes(code)]:
            for level, variant in enumerate(icd_term_variants(text)):
                term = normalize_term(variant)
                if len(term) < min_chars or term.count(" ") >= max_tokens:
                    continue
                rank = (min(level, 1), not billable, len(code), code)
                if term not in best or rank < best[term]:
                    best[term] = rank
    return {term: rank[3] for term, rank in best.items()}


@cache
def load_icd_index(year: int, max_tokens: int, min_chars: int, cache_dir: str) -> dict[str, str]:
    """The ICD term index, from the disk cache when its key matches, else built and cached."""
    key = digest(
        {
            "format": _INDEX_FORMAT,
            "simple_icd_10_cm": importlib.metadata.version("simple_icd_10_cm"),
            "year": year,
            "max_tokens": max_tokens,
            "min_chars": min_chars,
        }
    )
    path = Path(cache_dir).expanduser() / "dictionary" / f"icd10cm-{year}-terms-{key}.json"
    if path.exists():
        cached = _read_icd_index(path)
        if cached is not None:
            return cached
    started = time.perf_counter()
    index = _build_icd_index(year, max_tokens, min_chars)
    log.info("built the ICD-10-CM %d term index (%d terms) in %.1fs", year, len(index), time.perf_counter() - started)
    try:
        # atomic: concurrent jobs never read half a file
        write_text_atomic(path, json.dumps(index, ensure_ascii=False, separators=(",", ":")))
    except OSError as exc:
        log.warning("could not cache the ICD term index at %s: %s", path, exc)
    return index


def _read_icd_index(path: Path) -> dict[str, str] | None:
    """The cached term index at ``path`` (JSON: term -> code); None, with a warning, when it is unreadable or not one."""
    try:
        index = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or bad UTF-8
        log.warning("ICD term index cache %s is unreadable (%s); rebuilding it", path, str(exc) or type(exc).__name__)
        return None
    if not isinstance(index, dict) or not all(isinstance(code, str) for code in index.values()):
        log.warning("ICD term index cache %s does not map terms to codes; rebuilding it", path)
        return None
    return index
