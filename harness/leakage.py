"""Train/test leakage: the charts a component learns from and the charts it is scored on must be disjoint.

Disjoint by chart id and by text: the same note exported twice under two ids is the same note. An overlap
stops the run, because scores measured on charts the extractor (or calibrator) learned from are optimistic
by an unknown amount, and nothing downstream could tell.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from harness.contracts import Chart
from harness.errors import ConfigError

FIXES = ("give every chart a meta.split (charts without one are evaluated, never learned from), "
         "put the splits in separate files with a {split} path, or set extractor.train_split=null")
"""How a user separates learning from evaluation; named in every leakage error."""


class LeakageError(ConfigError):
    """Charts learned from are also scored."""


def text_digest(chart: Chart) -> str:
    """Digest of the chart's text with whitespace runs collapsed (a re-export that rewraps lines is the same note)."""
    return hashlib.sha256(" ".join(chart.text.split()).encode("utf-8")).hexdigest()


def check_disjoint(learned: Sequence[Chart], evaluated: Sequence[Chart], learner: str) -> None:
    """Raise ``LeakageError`` naming how many evaluated charts ``learner`` also learns from (by id, by identical text)."""
    if not learned:
        return
    learned_ids = {chart.id for chart in learned}
    learned_texts = {text_digest(chart) for chart in learned if chart.text.strip()}
    same_id = [chart for chart in evaluated if chart.id in learned_ids]
    same_text = [chart for chart in evaluated if chart.id not in learned_ids and text_digest(chart) in learned_texts]
    if same_id or same_text:
        raise LeakageError(
            f"{len(same_id) + len(same_text)} of the {len(evaluated)} evaluated charts are also charts the {learner} learns "
            f"from ({len(same_id)} with the same id, {len(same_text)} with the same text under another id), so the scores "
            f"would be optimistic. To fix: {FIXES}."
        )
