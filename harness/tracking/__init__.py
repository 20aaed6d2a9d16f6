"""Where runs are recorded and read back: the MLflow store (``mlflow_store``), recorded runs (``run_store``),
system metrics, the team's MLflow UI (``harness server``) and the CI regression gate (``harness gate``).
"""
