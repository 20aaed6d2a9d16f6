"""Shared fixtures. Under CI (CI=true) missing data fails the test instead of skipping it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def require(condition: bool, why: str) -> None:
    """Skip locally, fail under CI: a skipped test is not a passing test."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required test input missing under CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root holding ``codiesp/`` (``$HARNESS_DATA_DIR``)."""
    root = os.environ.get("HARNESS_DATA_DIR")
    require(bool(root) and (Path(root) / "codiesp" / "dev").is_dir(), "set HARNESS_DATA_DIR to the folder holding codiesp/")
    return Path(root)


@pytest.fixture
def empty_engine_pool():
    """No engine loaded before or after the test: stand-in engines never meet a real one (``extractors.llm.engine_pool``)."""
    from extractors.llm import engine_pool

    engine_pool.shutdown()
    yield
    engine_pool.shutdown()


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """A local model folder as the engines' loaders look for one (a config and weights file), for stand-in engines."""
    model = tmp_path / "tiny-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    return model


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session, away from the user's (built indexes are reused across tests)."""
    cache = Path(os.environ.get("HARNESS_TEST_CACHE_DIR") or tmp_path_factory.mktemp("harness-cache"))
    os.environ["HARNESS_CACHE_DIR"] = str(cache)
    return cache


# Jobs through the real command, recorded in a temporary MLflow store (shared by the end-to-end tests).


def harness(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 600,
            cold: bool = False) -> subprocess.CompletedProcess:
    """``python -m harness <args>`` in ``cwd`` (environment ``env``, default this process's), forked from a warm
    interpreter that has done the imports every command does (``warm_command``); ``cold``: started as a new process,
    for a test about the process itself. ``check``: a non-zero exit fails the test, with the command's stderr."""
    env = os.environ.copy() if env is None else env
    if cold:
        result = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                                timeout=timeout, env=env)
    else:
        from warm_command import WARM

        result = WARM.run(list(args), cwd, env, timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"harness {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def store(tmp_path: Path) -> str:
    return f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"


def runs(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("coding-harness")
    return client, client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def artifact(client, run, name: str) -> Path:
    return Path(client.download_artifacts(run.info.run_id, name))
