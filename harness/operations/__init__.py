"""Operations: what a run's routes and errors mean for a coding department, under an explicit workload model.

- ``config``: the model's settings (``OperationsConfig``, ``conf/operations/<name>.yaml``), each an assumption or a
  cited figure;
- ``families``: review reasons to the kind of work they ask for;
- ``facts``: the per-chart facts (``ChartFacts``) from a live run or a recorded run's artifacts;
- ``reroute``: recorded results routed again under another routing policy;
- ``workload``: each chart's expected denial, rework and coder minutes;
- ``queue``: the review queue simulated with simpy (time to claim, backlog, stability);
- ``metrics``: the run's operations metrics and ``operations.json``.
- ``what_if``: a recorded run's outcomes under other assumptions (scenarios; no new pipeline run).
"""

from harness.operations.config import FAMILIES, Family, OperationsConfig, ReviewMinutes
from harness.operations.facts import ChartFacts, RecordedCharts, facts_of, live_facts, load_recorded, recorded_facts
from harness.operations.families import family_of
from harness.operations.metrics import DOCUMENT, Operations, operations
from harness.operations.reroute import reroute
from harness.operations.workload import ChartWorkload, workload

__all__ = ["DOCUMENT", "FAMILIES", "ChartFacts", "ChartWorkload", "Family", "Operations", "OperationsConfig", "RecordedCharts",
           "ReviewMinutes", "facts_of", "family_of", "live_facts", "load_recorded", "operations", "recorded_facts", "reroute",
           "workload"]
