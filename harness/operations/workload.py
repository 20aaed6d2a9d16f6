"""Each chart's expected operational outcome under the workload model: chance of denial, chance of rework, coder minutes.

Expected values, no sampling. For one chart, with ``c = review_catches_errors`` when it was reviewed (0 when it went
auto), ``p_e = edit_denial_probability``, ``p_w = wrong_code_denial_probability``, ``q = error_found_probability``:

- problems that reach the payer: ``e = code_error * (1 - c)`` (a wrong or missing code) and
  ``f = failed payer edit * (1 - c)`` (a failed edit in ``payer_edits``), each corrected by a reviewer on its own;
- denial: ``d = 1 - (1 - f p_e)(1 - e p_w)``, the claim is denied for a failed edit, a wrong code, or both;
- rework: ``r = d + e (1 - p_w)(1 - f p_e) q``, a denied claim comes back, and so does an undenied one whose wrong
  code an audit or QA finds later;
- coder minutes: ``review_minutes`` of the chart's most expensive reason family when reviewed, else
  ``qa_sample_rate * qa_minutes`` (post-bill QA of auto-routed charts), plus ``r * rework_minutes``.

Every chart is eventually submitted (a reviewed one after its review), so the denial chance is per submitted claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.operations.config import OperationsConfig
from harness.operations.facts import ChartFacts
from harness.operations.families import review_cost


@dataclass(frozen=True)
class ChartWorkload:
    """What one chart is expected to cost and risk."""

    denial: float
    """Chance its claim is denied."""
    rework: float
    """Chance it comes back for correction (denied, or an error found after submission)."""
    review_minutes: float
    """Coder minutes to review it (0 when it went auto)."""
    qa_minutes: float
    """Expected coder minutes of post-bill QA (auto-routed charts only)."""
    rework_minutes: float
    """Expected coder minutes of rework."""

    @property
    def minutes(self) -> float:
        """Expected coder minutes in all."""
        return self.review_minutes + self.qa_minutes + self.rework_minutes


def workload(facts: ChartFacts, config: OperationsConfig) -> ChartWorkload:
    """The expected outcome of one chart (see the module docstring); needs a run with gold codes."""
    if facts.code_error is None:
        raise ValueError(f"chart {facts.chart_id!r}: the workload model needs gold codes (whether a code is wrong or "
                         "missing), and this run has none")
    reviewed = facts.route == "review"
    caught = config.review_catches_errors if reviewed else 0.0
    payer_edit_failed = any(edit in config.payer_edits for edit in facts.failed_edits)
    wrong = float(facts.code_error) * (1.0 - caught)
    failed = float(payer_edit_failed) * (1.0 - caught)
    passes_edits = 1.0 - failed * config.edit_denial_probability
    denial = 1.0 - passes_edits * (1.0 - wrong * config.wrong_code_denial_probability)
    rework = denial + wrong * (1.0 - config.wrong_code_denial_probability) * passes_edits * config.error_found_probability
    return ChartWorkload(
        denial=denial,
        rework=rework,
        review_minutes=review_cost(facts.families, config.review_minutes) if reviewed else 0.0,
        qa_minutes=0.0 if reviewed else config.qa_sample_rate * config.qa_minutes,
        rework_minutes=rework * config.rework_minutes,
    )
