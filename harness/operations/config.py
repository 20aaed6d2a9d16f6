"""The workload model's settings (``conf/operations/<name>.yaml``): what a coder's time costs and where errors go.

Every figure is an assumption about a coding department, not a measurement of the pipeline: a field's docstring names
its source, or it is an assumption. Set them to your department's own numbers (``conf/operations/<name>.yaml`` holds
only what differs from these defaults) before reading the outcomes as a forecast. For scale only (not a field): Change
Healthcare's 2020 Denials Index put hospital claims denied on first submission at 11.1% (all causes, registration and
eligibility included; coding is one cause of many).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Family = Literal["low_confidence", "high_risk", "edit_failed", "intake", "no_codes"]
"""What a reviewer has to do with a chart, by the kind of its review reasons (``harness.operations.families``)."""
FAMILIES: tuple[Family, ...] = get_args(Family)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ReviewMinutes(_Config):
    """Coder minutes to review one chart routed to review, by the family of its reasons. A chart with reasons of several
    families costs the most expensive of them: the coder opens and reads the chart once, and reading dominates."""

    low_confidence: float = Field(default=6.0, gt=0, allow_inf_nan=False)
    """Confirm or correct codes the pipeline was unsure of (``low_confidence``, ``unestimated_confidence``)."""
    high_risk: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    """Check the documentation behind an audit-target code (``high_risk``: sepsis, respiratory failure, ...)."""
    edit_failed: float = Field(default=8.0, gt=0, allow_inf_nan=False)
    """Resolve a failed validation edit (``edit_failed``, or the edit step itself failing: ``edits_failed``)."""
    intake: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    """Work from the source document because intake could not read it (unreadable or missing pages, OCR problems, an
    empty chart): in effect coding it by hand."""
    no_codes: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    """Code the chart from scratch: nothing usable was coded (``no_codes``, ``extraction_failed``, ``coding_failed``)."""

    def of(self, family: Family) -> float:
        return float(getattr(self, family))


class OperationsConfig(_Config):
    """The workload model that turns per-chart routes and errors into a coding department's outcomes."""

    name: str = "default"
    """Name of the model; equals its Hydra option name."""
    review_minutes: ReviewMinutes = Field(default_factory=ReviewMinutes)
    """Coder minutes to review a chart routed to review, by reason family (the chart's most expensive family counts)."""
    manual_coding_minutes: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    """Coder minutes to code a chart from scratch: the all-manual baseline that ``coder_time_saved`` compares with. Source:
    AHIMA best practice for inpatient records, 3 records an hour (DeVault K., "Best practices for coding productivity",
    Journal of AHIMA 83(7):72-74, July 2012); outpatient and ED records go much faster: set yours."""
    qa_sample_rate: float = Field(default=0.05, ge=0, le=1)
    """Share of auto-routed charts a coder checks after the claim went out (post-bill QA: it does not delay the claim)."""
    qa_minutes: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    """Coder minutes to QA one sampled auto-routed chart."""
    rework_minutes: float = Field(default=15.0, ge=0, allow_inf_nan=False)
    """Coder minutes to correct and resubmit a chart that came back (a denial, or an error found by audit or QA)."""
    payer_edits: list[str] = Field(default_factory=lambda: ["invalid_code", "non_billable", "excludes1", "code_first",
                                                            "use_additional", "mce_age", "mce_sex"])
    """Validation edits (``coders.edits`` names) that a payer's claim edits would also trip: a submitted claim failing
    one is denied with ``edit_denial_probability``. Edits of our own (``demographics_missing``) are left out."""
    edit_denial_probability: float = Field(default=1.0, ge=0, le=1)
    """Chance that a submitted claim failing a payer edit is denied."""
    wrong_code_denial_probability: float = Field(default=0.2, ge=0, le=1)
    """Chance that a submitted claim with a wrong or missing code (against gold) is denied."""
    error_found_probability: float = Field(default=0.3, ge=0, le=1)
    """Chance that a wrong or missing code on a claim that was not denied is found later (audit or QA) and sent back for
    rework."""
    review_catches_errors: float = Field(default=0.9, ge=0, le=1)
    """Share of a reviewed chart's problems (wrong or missing codes, failed payer edits) the reviewer corrects."""
    coders: int = Field(default=4, ge=1)
    """Coders working the review queue (and QA and rework)."""
    hours_per_day: float = Field(default=8.0, gt=0, le=24)
    """Working hours a day, the same for every coder; charts arrive during these hours."""
    working_days: int = Field(default=20, ge=1)
    """Working days the queue simulation runs (back to back: weekends are not modelled)."""
    arrivals_per_day: int = Field(default=200, ge=0)
    """Charts arriving each working day, spread over its working hours."""

    def capacity_minutes_per_day(self) -> float:
        """Coder minutes available a day."""
        return self.coders * self.hours_per_day * 60.0
