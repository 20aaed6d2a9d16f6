"""The VLM path: page images reach the model as image parts (PIL images offline, data URLs to servers),
evidence quoted from the pages aligns to the chart text, and the cache key follows image bytes, not paths.

A real VLM (Qwen2.5-VL class) needs a GPU: ``conf/experiment/vlm_qwen25.yaml``. Here the server side is a
local HTTP endpoint that records what it was sent.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

from extractors.llm.openai_server import OpenAIServerExtractor
from extractors.llm.prompting import load_template, render_page_messages
from extractors.llm.transformers_backend import TransformersExtractor
from extractors.llm.vllm_backend import VllmExtractor
from harness.config import DatasetConfig
from harness.contracts import Chart, Page
from harness.intake.degrade.config import DegradationConfig, RenderConfig
from harness.intake.ocr import IntakeConfig
from harness.pipeline.preparation import ChartPreparer
from harness.sources import load_charts

PAGES = ["Chief complaint: cough.", "Assessment: community acquired pneumonia."]


def _page_png(path, text: str, size=(1700, 2200)) -> str:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).text((100, 100), text, fill=0)
    image.save(path)
    return str(path)


@pytest.fixture
def paged_chart(tmp_path) -> Chart:
    text = "\n\n".join(PAGES)
    second = len(PAGES[0]) + 2
    pages = [Page(index=0, offset=0, text=PAGES[0], image_path=_page_png(tmp_path / "p0.png", PAGES[0])),
             Page(index=1, offset=second, text=PAGES[1], image_path=_page_png(tmp_path / "p1.png", PAGES[1]))]
    return Chart(id="c1", text=text, pages=pages)


class _Recorder(BaseHTTPRequestHandler):
    """Records every request body and answers with one finding quoting page 2."""

    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        answer = {"findings": [{"text": "pneumonia", "kind": "diagnosis", "assertion": "present", "code": "J18.9",
                                "evidence": "community acquired pneumonia"}]}
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": json.dumps(answer)}}],
                           "usage": {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorder():
    handler = type("Handler", (_Recorder,), {"bodies": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def _server_extractor(url: str, **extra) -> OpenAIServerExtractor:
    return OpenAIServerExtractor({"name": "openai_server", "url": url, "served_model": "m", "max_retries": 0,
                                  "timeout_s": 5, "prompt": "findings_pages_v1", **extra})


def test_page_template_reads_images_and_keeps_the_text_system_prompt() -> None:
    pages, text = load_template("findings_pages_v1"), load_template("findings_v1")
    assert pages.input == "page_images" and text.input == "text"
    assert pages.system == text.system and pages.version != text.version  # same question, its own cache key
    messages = render_page_messages(pages, [{"type": "image_url", "image_url": {"url": "data:,"}}], part=1, parts=2)
    user = messages[1]["content"]
    assert [part["type"] for part in user] == ["image_url", "text"] and "pages 1 of 2" in user[1]["text"]


def test_text_only_backend_rejects_a_page_image_prompt() -> None:
    with pytest.raises(ValidationError, match="sends page images, which the transformers backend cannot"):
        TransformersExtractor({"name": "transformers", "prompt": "findings_pages_v1"})


def test_server_gets_data_urls_and_evidence_aligns_to_the_page_text(recorder, paged_chart) -> None:
    handler, url = recorder
    [extraction] = _server_extractor(url, page_image_max_side=800).extract([paged_chart])
    [body] = handler.bodies
    parts = body["messages"][1]["content"]
    images = [part["image_url"]["url"] for part in parts if part["type"] == "image_url"]
    assert len(images) == 2 and all(u.startswith("data:image/png;base64,") for u in images)
    decoded = Image.open(io.BytesIO(base64.b64decode(images[1].split(",", 1)[1])))
    assert max(decoded.size) == 800 and decoded.size == (618, 800)  # shrunk, aspect kept
    assert extraction.error is None and extraction.schema_valid
    [finding] = extraction.findings
    [span] = finding.spans
    assert paged_chart.text[span.start : span.end] == "community acquired pneumonia" and span.page == 1


def test_pages_per_prompt_splits_a_chart_into_prompts(recorder, paged_chart) -> None:
    handler, url = recorder
    [extraction] = _server_extractor(url, pages_per_prompt=1).extract([paged_chart])
    assert len(handler.bodies) == 2
    assert all(sum(p["type"] == "image_url" for p in b["messages"][1]["content"]) == 1 for b in handler.bodies)
    assert extraction.input_tokens == 1800  # both prompts counted
    assert len(extraction.findings) == 1  # the same finding from both prompts, merged


def test_offline_engine_gets_pil_images(paged_chart) -> None:
    extractor = VllmExtractor({"name": "vllm", "prompt": "findings_pages_v1", "page_image_max_side": 512})
    [request] = extractor._requests(0, paged_chart)  # message building only; starting the engine is not needed
    parts = request.messages[1]["content"]
    assert [p["type"] for p in parts] == ["image_pil", "image_pil", "text"]
    assert all(isinstance(p["image_pil"], Image.Image) and max(p["image_pil"].size) == 512 for p in parts[:2])
    assert request.text == paged_chart.text and request.offset == 0


def test_chart_without_page_images_goes_to_review_with_the_reason(recorder) -> None:
    handler, url = recorder
    [extraction] = _server_extractor(url).extract([Chart(id="t", text="Text only.")])
    assert handler.bodies == [] and not extraction.schema_valid
    assert "no image for page(s) [0]" in extraction.error and "rendered pages" in extraction.error


def test_cache_key_follows_image_bytes_not_paths(paged_chart, tmp_path) -> None:
    moved = tmp_path / "moved"
    moved.mkdir()
    pages = [p.model_copy(update={"image_path": shutil.copy(p.image_path, moved)}) for p in paged_chart.pages]
    same = paged_chart.model_copy(update={"pages": pages})
    assert same.content_hash() == paged_chart.content_hash()
    _page_png(pages[1].image_path, "Assessment: viral pneumonia.")
    assert same.content_hash() != paged_chart.content_hash()


@pytest.mark.slow  # renders real charts to page images
def test_rendered_charts_carry_their_page_images_with_a_stable_hash() -> None:
    [chart] = load_charts(DatasetConfig(name="sample", split="dev", limit=1))
    hashes = []
    for _ in range(2):  # two preparers: two temporary folders
        preparer = ChartPreparer(DegradationConfig(name="rendered", render=RenderConfig()), IntakeConfig(), seed=0)
        try:
            prepared = preparer(chart)
            assert all(page.image_path and Image.open(page.image_path).size == (1700, 2200) for page in prepared.chart.pages)
            hashes.append(prepared.chart.content_hash())
        finally:
            preparer.close()
    assert hashes[0] == hashes[1]
