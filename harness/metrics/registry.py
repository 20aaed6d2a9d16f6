"""Every metric a run can record, registered once: its plain label, unit, direction, interval and group.

The computing modules (``harness.metrics.*``, the system sampler, the pipeline's timings) decide the
values; everything that shows or judges them reads this table: the end-of-run summary, the HTML reports
(``reports.labels``), the CI gate (``harness.tracking.gate_policy``: which metrics it may gate on, and how) and
the docs (``harness metrics`` prints the table). A metric with ``interval=True`` is
recorded with its bootstrap bounds ``<name>_ci_low`` and ``<name>_ci_high``.

A family of metrics is registered once by a pattern with one ``<placeholder>``
(``stage_<stage>_s``); its label may use ``{placeholder}``, filled from the recorded name.

It also says which metrics measure the machine (:func:`measures_the_machine`): what the golden runs, same-seed
runs and merged shard runs leave out of their comparisons.

The built-in metrics are the table :data:`BUILT_IN`. A metric computed from the run's chart outcomes can instead be
registered where it is computed, with the :func:`metric` decorator; another package adds one that way and names the
decorated function under the entry point group ``coding_harness.metrics`` (:data:`PLUGINS`;
``harness.metrics.decorated_metrics`` computes them in every run).

This module imports nothing heavy: the summary and the gate's ``--help`` load it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal, TypeVar

from harness.errors import ConfigError
from harness.registry import Registry

Unit = Literal["share", "seconds", "minutes", "hours", "per_second", "per_hour", "usd", "count", "score", "megabytes", "number",
              "yes_no"]
Group = Literal["codes", "review", "calibration", "evidence", "edits", "billing", "extraction", "intake", "recoverable",
                "operations", "throughput", "system"]
"""What a metric is about; report sections show a group each (``recoverable``: scored against what intake kept;
``operations``: a coding department's outcomes under the workload model of ``harness.operations``)."""
GateTest = Literal["paired", "mcnemar", "floor", "ratio"]
"""How the CI gate may judge a metric, in the order its table lists them:

- ``paired``: paired bootstrap interval of the change (per-chart statistics of ``harness.metrics.paired_stats``)
  against a tolerance in the worse direction;
- ``mcnemar``: exact McNemar test on the per-chart flags;
- ``floor``: the candidate's value against a fixed limit (a ceiling where lower is better);
- ``ratio``: the candidate's value relative to the baseline's (one number per run, no per-chart test).
"""
GATE_TESTS: tuple[GateTest, ...] = ("paired", "mcnemar", "floor", "ratio")
BOUNDS = ("_ci_low", "_ci_high")
"""Suffixes of a metric's bootstrap bounds."""
HEADLINE_GROUPS: tuple[Group, ...] = ("codes", "review")
"""Their metrics with an interval are the figures every report leads with (:func:`headline`)."""

UP, DOWN, NEITHER = True, False, None
"""Values of ``higher_is_better``."""
MACHINE_GROUPS: frozenset[Group] = frozenset({"throughput", "system"})
"""Groups whose metrics measure the machine and the run's circumstances (timings, cache reuse, resources)."""
MACHINE_UNITS: frozenset[Unit] = frozenset({"seconds", "per_second", "per_hour", "usd"})
"""Units of machine time or money, wherever a metric is grouped (``pages_per_s`` is an intake metric); coder
``minutes`` are the workload model's, not the machine's."""
PLUGINS = Registry("metric plugin", packages=(), group="coding_harness.metrics")
"""Metric plugins: each entry point of the group names a function decorated with :func:`metric`."""


@dataclass(frozen=True)
class GateRule:
    """The CI gate may judge the metric by ``test``, with its threshold in the gate config field ``setting``."""

    test: GateTest
    setting: str
    """Field of ``harness.tracking.gate_config.GateConfig`` (``conf/gate/<name>.yaml``) holding the tolerance or limit."""


@dataclass(frozen=True)
class Metric:
    """One registered metric, or a family of them (``name`` with a ``<placeholder>``)."""

    name: str
    label: str
    """Plain words for coding leads; a family's may use ``{placeholder}``."""
    unit: Unit
    higher_is_better: bool | None
    """None where neither direction is better (counts, memory)."""
    group: Group | None
    """None only for a name the registry does not know (``reports.labels`` guesses one)."""
    interval: bool = False
    """Recorded with bootstrap bounds ``<name>_ci_low`` / ``<name>_ci_high``."""
    card: bool = False
    """One of the few big-number tiles a run report opens with."""
    definition: str | None = None
    """One line saying how it is computed, for readers who do not know the term (the run report lists them)."""
    sweep: bool = False
    """Compared across the runs of a sweep (table and plots)."""
    summary: bool = True
    """Printed in the end-of-run summary when recorded."""
    gate: GateRule | None = None
    """How the CI gate may judge it; None: never gated."""
    needs_gold: bool = False
    """Measured against gold codes: not recorded for a run without them (an evaluation-only run)."""
    machine: bool | None = None
    """Measures the machine (its timings, resources) rather than the pipeline's decisions, so it differs between runs of
    the same config and seed; None: decided by group and unit (:attr:`measures_the_machine`)."""

    @property
    def is_family(self) -> bool:
        return "<" in self.name

    @property
    def measures_the_machine(self) -> bool:
        """``machine`` where said outright, else whether its group (:data:`MACHINE_GROUPS`) or its unit
        (:data:`MACHINE_UNITS`) is the machine's."""
        if self.machine is not None:  # coder throughput is per hour of a coder; time to claim has latency in it
            return self.machine
        return self.group in MACHINE_GROUPS or self.unit in MACHINE_UNITS

    def resolve(self, name: str) -> Metric | None:
        """This metric for the recorded ``name`` (a family member gets its own name and label); None if it does not match."""
        if not self.is_family:
            return self if name == self.name else None
        found = _pattern(self.name).fullmatch(name)
        if found is None:
            return None
        return replace(self, name=name, label=self.label.format(**found.groupdict()))


@cache
def _pattern(family: str) -> re.Pattern[str]:
    parts = re.split(r"<(\w+)>", family)
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+)" for i, part in enumerate(parts)))


BUILT_IN: tuple[Metric, ...] = (
    Metric("micro_f1", "F1 (all codes)", "share", UP, "codes", interval=True, card=True, sweep=True,
           gate=GateRule("paired", "max_micro_f1_drop"), needs_gold=True,
           definition="the balance of precision and recall over every code of every chart: 2 × right codes / (2 × right "
                      "codes + wrong codes + missed codes)"),
    Metric("micro_precision", "Precision: assigned codes that are right", "share", UP, "codes", interval=True, card=True,
           sweep=True, needs_gold=True),
    Metric("micro_recall", "Recall: gold codes that were found", "share", UP, "codes", interval=True, card=True, sweep=True,
           needs_gold=True),
    Metric("macro_f1", "F1 averaged over distinct codes", "share", UP, "codes", interval=True, needs_gold=True,
           definition="F1 of each distinct code, averaged, so rare codes weigh as much as common ones"),
    Metric("map", "Ranking quality (MAP)", "share", UP, "codes", interval=True, needs_gold=True,
           definition="mean average precision: per chart, how high the right codes rank when codes are sorted by "
                      "confidence (100% when every right code comes before every wrong one), averaged over charts"),
    Metric("exact_match", "Charts coded exactly right", "share", UP, "codes", interval=True,
           gate=GateRule("mcnemar", "mcnemar_alpha"), needs_gold=True),
    Metric("n_charts", "Charts", "count", NEITHER, "codes", summary=False),
    Metric("n_gold_codes", "Gold codes", "count", NEITHER, "codes", summary=False, needs_gold=True),
    Metric("n_predicted_codes", "Codes assigned", "count", NEITHER, "codes", summary=False),
    Metric("review_rate", "Charts sent to a coder", "share", DOWN, "review", interval=True, card=True, sweep=True,
           gate=GateRule("paired", "max_review_rate_rise")),
    Metric("automation_rate", "Codes accepted without a coder", "share", UP, "review", card=True),
    Metric("auto_precision", "Precision of codes accepted without a coder", "share", UP, "review", needs_gold=True),
    Metric("automation_rate_at_p95", "Codes that could be automated at 95% precision", "share", UP, "review", sweep=True,
           needs_gold=True),
    Metric("automation_rate_at_p99", "Codes that could be automated at 99% precision", "share", UP, "review", needs_gold=True),
    Metric("aurc", "Area under the risk-coverage curve", "score", DOWN, "review", needs_gold=True,
           definition="the share of wrong codes among those accepted, averaged over every confidence threshold from "
                      "accepting one code to accepting all; 0 when confidence puts every wrong code last"),
    Metric("ece", "Calibration error", "score", DOWN, "calibration", needs_gold=True,
           definition="how far reported confidence is from the share of codes that were right, per confidence band, "
                      "weighted by the band's codes: 0.05 means confidences are off by 5 points on average"),
    Metric("ece_raw", "Calibration error before calibration", "score", DOWN, "calibration", needs_gold=True),
    Metric("evidence_f1_overlap", "Evidence spans overlapping the coders'", "share", UP, "evidence", needs_gold=True),
    Metric("evidence_f1_exact", "Evidence spans matching the coders' exactly", "share", UP, "evidence", needs_gold=True),
    Metric("evidence_supported_rate", "Cited evidence found in the chart", "share", UP, "evidence"),
    Metric("edit_failure_rate", "Charts failing a validation edit", "share", DOWN, "edits"),
    Metric("edit_<edit>_failure_rate", "Charts failing edit '{edit}'", "share", DOWN, "edits", summary=False),
    Metric("billing_valid_rate", "Claims that pass billing checks", "share", UP, "billing"),
    Metric("schema_valid_rate", "Extractor answers in the expected format", "share", UP, "extraction",
           gate=GateRule("floor", "min_schema_valid_rate")),
    Metric("unsupported_evidence_rate", "Quoted evidence not found in the chart", "share", DOWN, "extraction"),
    Metric("ocr_cer", "OCR character error rate", "share", DOWN, "intake"),
    Metric("pages_per_s", "Pages read per second (OCR)", "per_second", UP, "intake"),
    Metric("charts_skipped", "Chart lines skipped as unreadable (listed in skipped_lines.jsonl)", "count", DOWN, "intake"),
    Metric("intake_review_rate", "Charts flagged by intake (unreadable, missing pages)", "share", DOWN, "intake"),
    Metric("quality_auroc", "Intake quality score predicts errors (AUROC)", "share", UP, "intake", needs_gold=True),
    # What page degradation changed (harness.intake.degrade.effects): a degradation that changed nothing is seen as 0.
    Metric("pages_rendered", "Pages printed before damage", "count", NEITHER, "intake"),
    Metric("pages_dropped", "Pages lost by degradation", "count", NEITHER, "intake"),
    Metric("pages_duplicated", "Pages delivered twice by degradation", "count", NEITHER, "intake"),
    Metric("charts_reordered", "Charts whose pages came out of order", "count", NEITHER, "intake"),
    Metric("copy_forward_blocks", "Blocks copied forward from an earlier page", "count", NEITHER, "intake"),
    Metric("micro_f1_recoverable", "F1 on codes whose evidence survived intake", "share", UP, "recoverable", interval=True,
           needs_gold=True),
    Metric("n_gold_codes_recoverable", "Gold codes with evidence after intake", "count", NEITHER, "recoverable", summary=False,
           needs_gold=True),
    Metric("denial_rate", "Claims a payer would deny (failed payer edit or wrong code)", "share", DOWN, "operations",
           interval=True, needs_gold=True, card=True, gate=GateRule("paired", "max_denial_rate_rise")),
    Metric("rework_rate", "Charts that come back for correction", "share", DOWN, "operations", interval=True, needs_gold=True),
    Metric("coder_minutes_per_chart", "Coder minutes per chart (review, QA, rework)", "minutes", DOWN, "operations",
           interval=True, needs_gold=True, card=True, gate=GateRule("paired", "max_coder_minutes_rise")),
    Metric("coder_throughput_charts_per_hour", "Charts per coder hour", "per_hour", UP, "operations", interval=True,
           needs_gold=True, machine=False),
    Metric("coder_time_saved", "Coder time saved against coding every chart by hand", "share", UP, "operations",
           interval=True, needs_gold=True),
    Metric("coder_utilization", "Coder hours the daily volume needs (share of those available)", "share", DOWN, "operations",
           needs_gold=True),
    Metric("operations_stable", "Review queue keeps up with arrivals", "yes_no", UP, "operations",
           needs_gold=True),
    Metric("review_queue_backlog", "Charts waiting for review at the end of the simulated days", "count", DOWN, "operations",
           needs_gold=True),
    Metric("backlog_growth_per_day", "Growth of the review backlog per day (charts)", "number", DOWN, "operations",
           needs_gold=True),
    Metric("time_to_claim_p50_h", "Time from arrival to claim, median", "hours", DOWN, "operations", needs_gold=True,
           machine=True),
    Metric("time_to_claim_p95_h", "Time from arrival to claim, slowest 5%", "hours", DOWN, "operations", needs_gold=True,
           machine=True),
    Metric("charts_per_s", "Charts per second", "per_second", UP, "throughput", interval=True, sweep=True,
           gate=GateRule("ratio", "max_throughput_drop")),
    Metric("chart_latency_p50_s", "Time per chart, median", "seconds", DOWN, "throughput", interval=True),
    Metric("chart_latency_p95_s", "Time per chart, slowest 5%", "seconds", DOWN, "throughput", interval=True),
    Metric("input_tokens_per_s", "Model input tokens per second", "per_second", UP, "throughput"),
    Metric("output_tokens_per_s", "Model output tokens per second", "per_second", UP, "throughput"),
    Metric("wall_s", "Pipeline time, whole run", "seconds", DOWN, "throughput"),
    Metric("cost_per_1k_charts_usd", "Machine cost per 1,000 charts", "usd", DOWN, "throughput"),
    Metric("charts_per_hour_per_engine", "Charts per hour, one engine", "per_hour", UP, "throughput"),
    Metric("engines_for_target", "Engines needed for the daily chart target", "count", DOWN, "throughput"),
    Metric("extract_busy_share", "Share of pipeline time the extractor was busy", "share", UP, "throughput"),
    Metric("extraction_cache_hits", "Extractions reused from the cache", "count", NEITHER, "throughput"),
    Metric("stage_<stage>_s", "Time in stage '{stage}'", "seconds", DOWN, "throughput"),
    Metric("gpu_count", "GPUs", "count", NEITHER, "system", summary=False),
    Metric("gpu_memory_peak_mb", "GPU memory, peak", "megabytes", NEITHER, "system", summary=False),
    Metric("gpu_utilization_mean_pct", "GPU busy, mean (%)", "number", NEITHER, "system", summary=False),
    Metric("system_memory_peak_mb", "Memory, peak", "megabytes", NEITHER, "system", summary=False),
    Metric("system/<sample>", "System use: {sample}", "number", NEITHER, "system", summary=False),
)
"""The harness's own metrics, in the order pages and the summary list metrics."""

_added: list[Metric] = []
"""Metrics registered with :func:`metric`, in registration order (listed after :data:`BUILT_IN`)."""
_computers: list[Callable[..., Any]] = []
"""The functions decorated with :func:`metric`, in registration order."""
_plugins_loaded = False

Compute = TypeVar("Compute", bound=Callable[..., Any])


def metric(name: str, label: str, unit: Unit, higher_is_better: bool | None, group: Group, **options: Any
           ) -> Callable[[Compute], Compute]:
    """Register metric ``name`` at the function that computes it from the run's chart outcomes
    (``harness.metrics.coding.ChartOutcome``); ``options`` are :class:`Metric`'s other fields (``interval``,
    ``needs_gold``, ``machine``, ...).

    The function takes the outcomes (a sequence, one per chart) and returns the metric's value; stacked decorators
    register several metrics, and the function then returns a mapping from each name to its value. With
    ``interval=True`` the run bootstraps the function over resampled charts for the bounds.
    """
    registered = Metric(name, label, unit, higher_is_better, group, **options)

    def register(compute: Compute) -> Compute:
        if registered.is_family or any(m.resolve(name) is not None for m in (*BUILT_IN, *_added)):
            raise ConfigError(f"metric {name!r} of {compute.__module__}.{compute.__qualname__}: "
                              "the name is already registered or is a pattern; choose another")
        _added.append(registered)
        compute.registered_metrics = (registered, *getattr(compute, "registered_metrics", ()))  # type: ignore[attr-defined]
        if compute not in _computers:
            _computers.append(compute)
        return compute

    return register


def load_plugins() -> None:
    """Import the metric plugins installed packages name in :data:`PLUGINS`' entry point group (once): their decorators
    register their metrics. An entry point that is not a function decorated with :func:`metric` is a ``ConfigError``."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # first: loading a plugin registers through this module
    for name in PLUGINS.names():
        if not getattr(PLUGINS.resolve(name), "registered_metrics", None):
            raise ConfigError(f"metric plugin {name!r} (entry point group {PLUGINS.group}) is not a function decorated "
                              "with harness.metrics.registry.metric")


def registered() -> tuple[Metric, ...]:
    """Every metric: :data:`BUILT_IN`, then those registered with :func:`metric` (plugins loaded first)."""
    load_plugins()
    return (*BUILT_IN, *_added)


def computers() -> tuple[Callable[..., Any], ...]:
    """The functions decorated with :func:`metric` (plugins loaded first): what a run computes beside the built-ins."""
    load_plugins()
    return tuple(_computers)


def find(name: str) -> Metric | None:
    """The metric recorded as ``name`` (a family member resolved to it); None when unregistered or a bound."""
    for metric in registered():
        found = metric.resolve(name)
        if found is not None:
            return found
    return None


def get(name: str) -> Metric:
    """Like :func:`find`, but an unregistered name is a ``KeyError``."""
    found = find(name)
    if found is None:
        raise KeyError(f"metric {name!r} is not registered in harness.metrics.registry")
    return found


def _bound_of(key: str) -> str | None:
    """The metric a bootstrap bound key belongs to; None when ``key`` is not a bound."""
    return next((key.removesuffix(suffix) for suffix in BOUNDS if key.endswith(suffix)), None)


def is_registered(key: str) -> bool:
    """Whether a recorded key is a registered metric, or a bootstrap bound of one that has an interval."""
    base = _bound_of(key)
    if base is not None and (found := find(base)) is not None and found.interval:
        return True
    return find(key) is not None


def measures_the_machine(key: str) -> bool:
    """Whether recorded ``key`` (a metric, a family member or a bootstrap bound of one) measures the machine rather
    than the pipeline's decisions (:attr:`Metric.measures_the_machine`); an unregistered key does not."""
    found = find(_bound_of(key) or key)
    return found is not None and found.measures_the_machine


def decisions(metrics: Mapping[str, float]) -> dict[str, float]:
    """``metrics`` less those that measure the machine: what a rerun of the same config and seed reproduces exactly."""
    return {key: value for key, value in metrics.items() if not measures_the_machine(key)}


def _selected(metric: Metric, groups: Iterable[str], flags: dict[str, object]) -> bool:
    return (not groups or metric.group in groups) and all(getattr(metric, flag) == value for flag, value in flags.items())


def names(*groups: Group, **flags: object) -> tuple[str, ...]:
    """Registered names (families left out) of ``groups`` (all when none) whose fields equal ``flags``, e.g. ``interval=True``."""
    return tuple(m.name for m in registered() if not m.is_family and _selected(m, groups, flags))


def present(metrics: Iterable[str], *groups: Group, **flags: object) -> list[str]:
    """The recorded names in ``metrics`` that :func:`names` would select, with each family's members (sorted) in its place."""
    recorded = sorted(metrics)
    shown = []
    for metric in registered():
        if not _selected(metric, groups, flags):
            continue
        if metric.is_family:
            shown += [n for n in recorded if metric.resolve(n) is not None]
        elif metric.name in recorded:
            shown.append(metric.name)
    return shown


def headline() -> tuple[str, ...]:
    """The accuracy and review figures every report leads with (all carry bootstrap intervals)."""
    return names(*HEADLINE_GROUPS, interval=True)


def gated() -> list[Metric]:
    """The metrics the CI gate judges, in the order of its table (by test, then as registered)."""
    return sorted((m for m in registered() if m.gate is not None), key=lambda m: GATE_TESTS.index(m.gate.test))


def without_gold(metrics: Mapping[str, float]) -> dict[str, float]:
    """``metrics`` less those measured against gold codes (and their bounds): what a run without gold can know."""
    def needs_gold(key: str) -> bool:
        found = find(_bound_of(key) or key)
        return found is not None and found.needs_gold

    return {key: value for key, value in metrics.items() if not needs_gold(key)}


def markdown() -> str:
    """The registry as a Markdown table, for the docs."""
    better = {UP: "higher", DOWN: "lower", NEITHER: "-"}
    rows = [f"| `{m.name}` | {m.label} | {m.unit} | {better[m.higher_is_better]} | {'yes' if m.interval else ''} | {m.group} "
            f"| {'yes' if m.needs_gold else ''} | {'yes' if m.measures_the_machine else ''} "
            f"| {f'{m.gate.test} (`{m.gate.setting}`)' if m.gate else ''} |" for m in registered()]
    return "\n".join(["| metric | label | unit | better | interval | group | needs gold | machine | gate |",
                      "|---|---|---|---|---|---|---|---|---|", *rows])

