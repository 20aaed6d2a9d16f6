"""Where runs are recorded and read back: the MLflow store (``mlflow_store``), recorded runs (``run_store``),
system metrics, the team's MLflow server (``server``), the CI regression gate (``gate_config``, ``gate_statistics``,
``gate_policy``, ``gate_runs``), a sweep's decision over the gate's comparison (``decision_config``, ``decision``) and
what-if runs over a recorded run (``what_if_runs``).
"""
