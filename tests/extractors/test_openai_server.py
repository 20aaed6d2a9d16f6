"""The openai_server extractor against real endpoints: an unreachable one, one that answers 5xx or junk, and vLLM."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from extractors.llm.openai_server import OpenAIServerExtractor
from harness.contracts import Chart
from harness.processes import free_port

CHARTS = [Chart(id="a", text="Essential hypertension."), Chart(id="b", text="Type 2 diabetes mellitus.")]


class _Endpoint(BaseHTTPRequestHandler):
    """Answers every request with the class's status and body, counting the calls."""

    status = 500
    body = b"{}"
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def endpoint():
    handler = type("Handler", (_Endpoint,), {"calls": 0})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def extractor(url: str, **extra) -> OpenAIServerExtractor:
    return OpenAIServerExtractor({"name": "openai_server", "url": url, "served_model": "m", "max_retries": 2, "backoff_s": 0,
                                  "timeout_s": 5, **extra})


def test_unreachable_server_routes_every_chart_with_the_reason() -> None:
    extractions = extractor(f"http://127.0.0.1:{free_port()}/v1").extract(CHARTS)
    assert [e.chart_id for e in extractions] == ["a", "b"]
    assert all(e.error == "server failed after 3 attempts: APIConnectionError" and not e.schema_valid for e in extractions)


def test_5xx_is_retried_then_reported(endpoint) -> None:
    handler, url = endpoint
    extractions = extractor(url).extract(CHARTS[:1])
    assert handler.calls == 3  # the first try and two retries
    assert extractions[0].error == "server failed after 3 attempts: InternalServerError"


def test_4xx_is_not_retried(endpoint) -> None:
    handler, url = endpoint
    handler.status = 400
    extractions = extractor(url).extract(CHARTS[:1])
    assert handler.calls == 1 and extractions[0].error == "server rejected the request: BadRequestError"


def test_output_that_is_not_json_is_schema_invalid(endpoint) -> None:
    handler, url = endpoint
    handler.status = 200
    handler.body = json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Sure! The patient has HTN."}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
    }).encode()
    [extraction] = extractor(url).extract(CHARTS[:1])
    assert not extraction.schema_valid and extraction.error.startswith("invalid JSON")
    assert (extraction.input_tokens, extraction.output_tokens) == (10, 7)
