"""ICD-10-CM for report tables: a code's chapter and description, and how a run scored per chapter.

Chapters come from the CMS tabular in ``simple-icd-10-cm`` (the last ancestor of a code is its
chapter number); codes the tabular does not hold (ICD-10-PCS, retired or invalid codes) form the
group ``other``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from harness.contracts import DEFAULT_CODE_SET_YEAR
from reports.run_data import ChartCodes

OTHER = "other"


@cache
def chapter_of(code: str) -> str:
    """Chapter number (``"9"``) of an ICD-10-CM code, or ``other``."""
    import simple_icd_10_cm as icd

    if not icd.is_valid_item(code):
        return OTHER
    ancestors = icd.get_ancestors(code)
    return ancestors[-1] if ancestors else (code if icd.is_chapter(code) else OTHER)


def chapter_title(chapter: str) -> str:
    """``I00-I99 Diseases of the circulatory system``: the code range first, as coders know chapters by it."""
    if chapter == OTHER:
        return "Other: not in the ICD-10-CM tabular (procedures, retired or invalid codes)"
    import simple_icd_10_cm as icd

    described = re.match(r"(.*?)\s*\(([^()]*)\)$", icd.get_description(chapter))
    return f"{described.group(2)} {described.group(1)}" if described else icd.get_description(chapter)


def describe(code: str, year: int = DEFAULT_CODE_SET_YEAR) -> str:
    """The tabular description of an ICD-10-CM code; empty when the code is not in that year's code set."""
    from coders.codeset import UnknownCodeSet, code_set

    try:
        return code_set("icd10cm", year).description(code)
    except UnknownCodeSet:
        return ""


def _chapter_order(chapter: str) -> tuple[int, str]:
    return (int(chapter), "") if chapter.isdigit() else (10_000, chapter)


@dataclass(frozen=True)
class ChapterScore:
    """Codes of one chapter over all charts: counts, precision, recall, F1 and F1's bootstrap interval."""

    chapter: str
    title: str
    gold: int
    predicted: int
    correct: int
    precision: float
    recall: float
    f1: float
    f1_low: float
    f1_high: float


def chapter_scores(charts: Sequence[ChartCodes], n_resamples: int = 1000, confidence: float = 0.95,
                   seed: int = 0) -> list[ChapterScore]:
    """Micro scores per chapter (a predicted code counts in its own chapter), in chapter order.

    The F1 interval resamples charts, like every interval of the harness; a resample in which a
    chapter has no codes at all leaves that chapter's F1 undefined there and out of its interval.
    """
    import numpy as np

    from harness.metrics.bootstrap import count_matrix, draw_indices

    chapters = sorted({chapter_of(c) for chart in charts for c in chart.gold | chart.predicted.keys()}, key=_chapter_order)
    if not chapters:
        return []
    column = {chapter: j for j, chapter in enumerate(chapters)}
    counts = np.zeros((3, len(charts), len(chapters)))  # correct, false positives, false negatives per chart and chapter
    for i, chart in enumerate(charts):
        for kind, codes in enumerate((chart.correct, chart.false_positives, chart.false_negatives)):
            for code in codes:
                counts[kind, i, column[chapter_of(code)]] += 1
    weights = np.vstack([np.ones((1, len(charts))), count_matrix(draw_indices(len(charts), n_resamples, seed), len(charts))])
    tp, fp, fn = (weights @ counts[k] for k in range(3))  # (1 + B, chapters); row 0: the run itself
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * tp / (2 * tp + fp + fn)
    alpha = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():  # a chapter absent from every resample has no interval: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(f1[1:], [alpha, 100 - alpha], axis=0)
    scores = []
    for j, chapter in enumerate(chapters):
        correct, false_pos, false_neg = (int(tp[0, j]), int(fp[0, j]), int(fn[0, j]))
        scores.append(ChapterScore(
            chapter=chapter, title=chapter_title(chapter), gold=correct + false_neg, predicted=correct + false_pos,
            correct=correct,
            precision=correct / (correct + false_pos) if correct + false_pos else float("nan"),
            recall=correct / (correct + false_neg) if correct + false_neg else float("nan"),
            f1=float(f1[0, j]), f1_low=float(low[j]), f1_high=float(high[j])))
    return scores
