"""The openai_server extractor under faults, through its public API only (config dict in, ``extract`` out).

A fake OpenAI-compatible endpoint on 127.0.0.1 (started here) sleeps past the timeout, answers 429
before succeeding, and records how many requests are in flight at once. A fake local vLLM server
(a ``vllm`` package shadowing the real one on PYTHONPATH, so the ``vllm serve`` the extractor launches runs
its CLI ``main``) crashes at once or never becomes ready: the error must say so and name the server's log,
which holds what the server wrote, and no process may be left behind.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT
from waiting import wait_for

from harness.contracts import Chart
from harness.registry import EXTRACTORS

CHART_TEXT = "Follow-up visit. Essential hypertension, on lisinopril."
ANSWER = {"findings": [{"text": "essential hypertension", "kind": "diagnosis", "assertion": "present", "code": "I10",
                        "evidence": "Essential hypertension"}]}


def completion(content: str) -> bytes:
    return json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
    }).encode()


class FakeEndpoint:
    """An OpenAI-compatible ``/v1/chat/completions`` whose behaviour a test sets per request number.

    ``respond(n) -> (status, hold)``: the n-th request (from 0) waits ``hold`` seconds (cut short when the
    test ends), then gets ``status`` (200 carries a valid findings answer). ``wait_for_inflight``: each
    request also waits (up to 5 s) until that many requests have been in flight at once, so a client that
    really sends that many concurrently reaches it whatever the machine's load.
    """

    def __init__(self) -> None:
        self.respond = lambda n: (200, 0.0)
        self.wait_for_inflight = 0
        self.arrivals: list[float] = []
        self.inflight = 0
        self.max_inflight = 0
        self.released = threading.Event()
        self._lock = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.handle(self)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    @property
    def calls(self) -> int:
        return len(self.arrivals)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            number = len(self.arrivals)
            self.arrivals.append(time.monotonic())
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            self._lock.notify_all()
            self._lock.wait_for(lambda: self.max_inflight >= self.wait_for_inflight, timeout=5)
        status, hold = self.respond(number)
        try:
            self.released.wait(hold)
            body = completion(json.dumps(ANSWER)) if status == 200 else json.dumps({"error": {"message": "slow down"}}).encode()
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except OSError:  # the client gave up on this request (its timeout): nothing to answer
            pass
        finally:
            with self._lock:
                self.inflight -= 1


@pytest.fixture
def endpoint():
    fake = FakeEndpoint()
    threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield fake
    fake.released.set()
    fake.server.shutdown()
    fake.server.server_close()


def build(**overrides):
    """The extractor as the harness builds it: the shipped config file, some fields overridden."""
    config = yaml.safe_load((PROJECT_ROOT / "conf" / "extractor" / "openai_server.yaml").read_text())
    return EXTRACTORS.resolve("openai_server")({**config, "served_model": "m", **overrides})


def charts(n: int) -> list[Chart]:
    return [Chart(id=f"c{i}", text=CHART_TEXT) for i in range(n)]


def extract_or_hang(extractor, batch: list[Chart], limit_s: float = 60.0):
    """``extract`` in a thread: a call that does not return within ``limit_s`` is a hang, reported as one."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(extractor.extract(batch)), daemon=True)
    worker.start()
    worker.join(limit_s)
    assert not worker.is_alive(), f"extract still running after {limit_s:g} s: the request timeout did not apply"
    return out[0]


# --- a remote endpoint --------------------------------------------------------------------------------------


def test_timed_out_requests_are_retried_then_the_chart_fails_with_the_reason(endpoint) -> None:
    endpoint.respond = lambda n: (200, 120.0)  # far beyond the timeout: only the timeout can end the call
    extractor = build(url=endpoint.url, timeout_s=0.3, max_retries=1, backoff_s=0)
    (extraction,) = extract_or_hang(extractor, charts(1))
    assert endpoint.calls == 2  # the first try and one retry, each cut off by the timeout
    assert not extraction.schema_valid and extraction.findings == []
    assert extraction.error == "server failed after 2 attempts: APITimeoutError"


def test_429_is_retried_with_growing_backoff_then_succeeds(endpoint) -> None:
    endpoint.respond = lambda n: (429, 0.0) if n < 2 else (200, 0.0)
    extractor = build(url=endpoint.url, timeout_s=10, max_retries=3, backoff_s=0.2)
    (extraction,) = extract_or_hang(extractor, charts(1))
    assert endpoint.calls == 3  # two answers of 429, then the success: no more requests
    assert extraction.error is None and extraction.schema_valid
    assert [f.code for f in extraction.findings] == ["I10"] and extraction.findings[0].spans[0].text == "Essential hypertension"
    first_wait, second_wait = (b - a for a, b in zip(endpoint.arrivals, endpoint.arrivals[1:], strict=False))
    assert first_wait >= 0.2 and second_wait >= 0.4  # backoff_s, then doubled


def test_429_until_retries_run_out_fails_the_chart_with_the_reason(endpoint) -> None:
    endpoint.respond = lambda n: (429, 0.0)
    (extraction,) = extract_or_hang(build(url=endpoint.url, timeout_s=10, max_retries=2, backoff_s=0), charts(1))
    assert endpoint.calls == 3 and not extraction.schema_valid
    assert extraction.error == "server failed after 3 attempts: RateLimitError"


@pytest.mark.parametrize("concurrency", [1, 3])
def test_requests_in_flight_reach_but_never_exceed_max_concurrency(endpoint, concurrency: int) -> None:
    endpoint.wait_for_inflight = concurrency  # each request is held until `concurrency` were in flight at once ...
    endpoint.respond = lambda n: (200, 0.15)  # ... and then a little longer, so that one more would overlap them
    n_charts = 3 * concurrency + 1
    extractor = build(url=endpoint.url, timeout_s=30, max_concurrency=concurrency, max_retries=0)
    extractions = extract_or_hang(extractor, charts(n_charts))
    assert endpoint.calls == n_charts and all(e.schema_valid and e.error is None for e in extractions)
    assert endpoint.max_inflight == concurrency


# --- a local vLLM server the extractor starts itself ----------------------------------------------------------

FAKE_CLI = """\
import os, subprocess, sys, time


def main():
    here = os.environ["FAKE_VLLM_DIR"]
    print("fake vllm: args", " ".join(sys.argv[1:]), flush=True)
    if os.environ["FAKE_VLLM_MODE"] == "crash":
        sys.stderr.write("fake vllm: no CUDA device for the KV cache\\n")
        sys.exit(1)
    # never ready: start a worker (as vLLM's engine core does), never listen on the port
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", *sys.argv[1:]])
    with open(os.path.join(here, "pids.tmp"), "w") as out:
        out.write(f"{os.getpid()} {worker.pid}")
    os.replace(os.path.join(here, "pids.tmp"), os.path.join(here, "pids"))
    time.sleep(600)
"""


@pytest.fixture
def fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model folder, and a ``vllm`` package first on the path whose CLI ``main`` ``vllm serve`` runs instead."""
    package = tmp_path / "fake" / "vllm" / "entrypoints" / "cli"
    package.mkdir(parents=True)
    for folder in (package, package.parent, package.parent.parent):
        (folder / "__init__.py").write_text("")
    (package / "main.py").write_text(FAKE_CLI)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path / "fake"), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("FAKE_VLLM_DIR", str(tmp_path))
    model = tmp_path / "tiny-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"not really weights")
    return model


def processes_mentioning(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line holds ``marker``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # ended while we looked
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def wait_until_gone(marker: str, started: str) -> None:
    """Wait (up to 10 s) until no process mentions ``marker``; the error names what was ``started`` and what is left."""
    wait_for(lambda: not processes_mentioning(marker), 10, f"the processes of {started} to exit",
             detail=lambda: f"left running: {processes_mentioning(marker)}")


def server_log(error: str) -> str:
    """The text of the server log an error names."""
    match = re.search(r"\(log (\S+server\.log)\)", error)
    assert match, f"no log named in {error!r}"
    return Path(match.group(1)).read_text()


def test_local_server_that_crashes_at_start_fails_every_chart_with_its_exit_status_and_stderr(fake_vllm, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_MODE", "crash")
    extractions = extract_or_hang(build(model=str(fake_vllm), startup_timeout_s=60), charts(2))
    assert [e.chart_id for e in extractions] == ["c0", "c1"]
    for extraction in extractions:
        assert not extraction.schema_valid and extraction.error.startswith("model unavailable: ")
        assert "local vLLM server exited with status 1" in extraction.error
        assert "fake vllm: no CUDA device for the KV cache" in extraction.error  # the server's own words
    log = server_log(extractions[0].error)
    assert f"serve {fake_vllm} --host 127.0.0.1" in log and "fake vllm: no CUDA device" in log  # stdout and stderr
    wait_until_gone(str(fake_vllm), "the crashed local server")


def test_local_server_that_never_becomes_ready_times_out_and_leaves_no_process(fake_vllm, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_MODE", "hang")
    extractions = extract_or_hang(build(model=str(fake_vllm), startup_timeout_s=1), charts(2))
    for extraction in extractions:
        assert not extraction.schema_valid
        assert extraction.error.startswith("model unavailable: TimeoutError: local vLLM server not healthy after 1 s (log ")
    assert "fake vllm: args serve" in server_log(extractions[0].error)
    pids = (fake_vllm.parent / "pids").read_text().split()  # the fake server did start, and started its worker
    assert len(pids) == 2
    wait_until_gone(str(fake_vllm), f"the server and its worker (pids {' '.join(pids)})")
