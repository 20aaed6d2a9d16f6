"""The review queue over ``working_days`` days, simulated with simpy: time to claim, backlog, and whether it keeps up.

The model (wall-clock time; day ``d`` runs from hour ``24 d`` to ``24 (d + 1)``, its working hours first):

- arrivals: each working day ``arrivals_per_day`` charts arrive at seeded uniform times within its ``hours_per_day``
  working hours (a Poisson process's arrivals given the day's count: exact daily volume, realistic bunching); each
  draws its facts, with replacement, from the run's charts;
- the pipeline: an auto-routed chart goes to claim after its pipeline latency; a review-routed one joins the coders'
  queue. The latency is added to the chart's time to claim instead of delaying its entry into the queue: seconds change
  nothing at the scale of reviews (minutes) and waits (hours), and so the queue (backlog, growth) is a function of the
  pipeline's decisions alone, the same on any machine; only the time to claim measures the machine;
- coders: ``coders`` of them take work first come, first served (a simpy ``PriorityResource``), only in working hours:
  at the end of the day an off-duty request per coder, ahead of all work, takes each coder as they finish the chart in
  hand and holds them until the next morning;
- work besides review: a sampled auto-routed chart (``qa_sample_rate``) needs ``qa_minutes`` of post-bill QA, queued
  once its claim is out (it never delays a claim); a chart drawn to come back (its rework chance, seeded) queues
  ``rework_minutes`` once its claim is out (when a denial or an audit really returns it is not modelled: only its load);
- time to claim: pipeline latency for a chart routed auto; pipeline latency plus queue wait plus review for one routed
  to review. When the queue keeps up, the simulation goes on past the last day, without new arrivals, until every
  review-routed chart is claimed, so late arrivals count with their whole wait;
- backlog: review-routed charts not yet claimed at the end of each day (the series for a plot); its growth is the
  least-squares slope of that series, starting from an empty queue.

Seeded, deterministic: the same facts, config and seed give the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.operations.config import OperationsConfig
from harness.operations.facts import ChartFacts
from harness.operations.workload import ChartWorkload

MINUTES_PER_DAY = 24 * 60
"""The simulation's clock runs in minutes: whole-minute work then adds up exactly to the end of a shift."""
_OFF_DUTY, _WORK = -1, 0
"""Request priorities: the end of a shift goes before any queued work."""
_STREAM = 0x0DE5
"""Mixed into the job seed, so the queue's draws are not the bootstrap's."""


@dataclass(frozen=True)
class QueueResult:
    """What the simulation saw."""

    days: int
    charts_arrived: int
    """Charts arriving over the simulated days."""
    review_charts: int
    """Of them, routed to review."""
    charts_claimed: int
    """Charts whose claim went out (all of them when the queue was drained)."""
    drained: bool
    """The simulation ran on past the last day, without arrivals, until every review-routed chart was claimed (only
    for a queue that keeps up)."""
    backlog_per_day: tuple[int, ...]
    """Review-routed charts waiting for or in review at the end of each day."""
    work_backlog_minutes_per_day: tuple[float, ...]
    """Coder minutes of queued work (review, QA and rework not yet started) at the end of each day."""
    backlog_growth_per_day: float
    """Least-squares slope of the backlog over the days, from an empty queue (charts per day)."""
    time_to_claim_h: tuple[float, ...]
    """Hours from arrival to claim of each claimed chart, in arrival order."""
    coder_minutes_worked: float
    """Coder minutes spent on work within the simulated days."""


def simulate(facts: Sequence[ChartFacts], workloads: Sequence[ChartWorkload], config: OperationsConfig, seed: int,
             drain: bool = True) -> QueueResult:
    """Run the review queue (see the module docstring). ``drain``: go on after the last day until every review-routed
    chart is claimed (only for a queue that keeps up, or it might never end)."""
    import simpy

    if len(facts) != len(workloads):
        raise ValueError(f"{len(facts)} charts but {len(workloads)} workloads")
    days, per_day, shift = config.working_days, config.arrivals_per_day, config.hours_per_day * 60.0
    total = days * per_day if facts else 0
    rng = np.random.default_rng([seed, _STREAM])
    offsets = np.sort(rng.uniform(0.0, shift, size=(days, per_day)), axis=1)
    arrivals = (offsets + MINUTES_PER_DAY * np.arange(days)[:, None]).ravel()[:total]
    drawn = rng.integers(0, max(len(facts), 1), size=total)
    qa_draw, rework_draw = rng.random(total), rng.random(total)

    env = simpy.Environment()
    coders = simpy.PriorityResource(env, capacity=config.coders)
    state = {"pending": 0, "queued_minutes": 0.0, "worked": 0.0, "arrived": False}
    waits: dict[int, float] = {}
    period_end = days * MINUTES_PER_DAY
    done = env.event()

    def maybe_done() -> None:
        if state["arrived"] and state["pending"] == 0 and not done.triggered:
            done.succeed()

    def work(minutes: float, then=None):
        state["queued_minutes"] += minutes
        with coders.request(priority=_WORK) as request:
            yield request
            state["queued_minutes"] -= minutes
            started = env.now
            yield env.timeout(minutes)
            state["worked"] += max(0.0, min(env.now, period_end) - started)
        if then is not None:
            then()

    def off_duty(until: float):
        with coders.request(priority=_OFF_DUTY) as request:
            yield request
            yield env.timeout(max(0.0, until - env.now))

    def shifts():
        day = 0
        while True:
            yield env.timeout(day * MINUTES_PER_DAY + shift - env.now)
            for _ in range(config.coders):
                env.process(off_duty((day + 1) * MINUTES_PER_DAY))
            day += 1
            yield env.timeout(day * MINUTES_PER_DAY - env.now)

    def after_claim(k: int, workload: ChartWorkload, routed_auto: bool) -> None:
        if routed_auto and qa_draw[k] < config.qa_sample_rate and config.qa_minutes > 0:
            env.process(work(config.qa_minutes))
        if rework_draw[k] < workload.rework and config.rework_minutes > 0:
            env.process(work(config.rework_minutes))

    def claimed(k: int, arrived: float, chart: ChartFacts, workload: ChartWorkload) -> None:
        waits[k] = (env.now - arrived) / 60.0 + chart.latency_s / 3600.0
        state["pending"] -= 1
        after_claim(k, workload, routed_auto=False)
        maybe_done()

    def arrive():
        for k, at in enumerate(arrivals):
            yield env.timeout(at - env.now)
            chart, workload = facts[drawn[k]], workloads[drawn[k]]
            if chart.route == "auto":
                waits[k] = chart.latency_s / 3600.0
                after_claim(k, workload, routed_auto=True)
            else:
                state["pending"] += 1
                env.process(work(workload.review_minutes, lambda k=k, at=at, c=chart, w=workload: claimed(k, at, c, w)))
        state["arrived"] = True
        maybe_done()

    backlog: list[int] = []
    work_backlog: list[float] = []

    def monitor():
        for day in range(days):
            yield env.timeout((day + 1) * MINUTES_PER_DAY - env.now)
            backlog.append(state["pending"])
            work_backlog.append(state["queued_minutes"])

    if shift < MINUTES_PER_DAY:
        env.process(shifts())
    env.process(arrive())
    env.run(until=env.process(monitor()))
    if drain and not done.processed:
        env.run(until=done)
    times = tuple(waits[k] for k in sorted(waits))
    return QueueResult(
        days=days,
        charts_arrived=total,
        review_charts=sum(1 for k in range(total) if facts[drawn[k]].route == "review"),
        charts_claimed=len(times),
        drained=drain,
        backlog_per_day=tuple(backlog),
        work_backlog_minutes_per_day=tuple(round(m, 6) for m in work_backlog),
        backlog_growth_per_day=growth(backlog),
        time_to_claim_h=times,
        coder_minutes_worked=state["worked"],
    )


def growth(backlog: Sequence[float]) -> float:
    """Least-squares slope of ``backlog`` (one value per day) over days 0 (empty) to N, in charts per day."""
    if not backlog:
        return 0.0
    days = np.arange(len(backlog) + 1, dtype=float)
    values = np.concatenate([[0.0], np.asarray(backlog, dtype=float)])
    centred = days - days.mean()
    return float(centred @ (values - values.mean()) / (centred @ centred))
