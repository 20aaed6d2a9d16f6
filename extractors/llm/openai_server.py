"""The ``openai_server`` extractor: the findings prompt sent to any OpenAI-compatible endpoint.

Give ``url`` to use a running server (``vllm serve`` on GPUs, or any compatible endpoint), or leave
it empty and the harness starts a local vLLM server itself (bound to 127.0.0.1 on a free port,
stopped when the process ends). Requests go out with bounded concurrency, a timeout, and retries
with exponential backoff on connection errors, timeouts, 429 and 5xx; then the chart goes to
review with the reason. The schema travels as ``response_format`` json_schema, and its effect is
measured (``schema_valid_rate``): servers silently ignore fields they do not know.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from pydantic import Field

from extractors.llm import engine_pool
from extractors.llm.chat_model import ChatModelConfig, ChatModelExtractor, ChatRequest
from extractors.llm.prompting import image_data_url
from harness.processes import free_port, stop_process_group
from harness.registry import EXTRACTORS


class OpenAIServerConfig(ChatModelConfig):
    """Endpoint and request settings on top of the shared prompt and decoding settings."""

    reads_page_images: ClassVar[bool] = True

    name: Literal["openai_server"] = "openai_server"
    """Registry name."""
    url: str | None = None
    """Base URL of a running server (``http://host:port/v1``); None starts a local vLLM server."""
    api_key: str = "EMPTY"
    """API key sent to the server (vLLM accepts any unless started with ``--api-key``)."""
    served_model: str | None = None
    """Model name the server knows; defaults to the prepared model's id (the local server is started under it)."""
    max_concurrency: int = Field(default=8, ge=1)
    """Requests in flight at once."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Per-request timeout."""
    max_retries: int = Field(default=3, ge=0)
    """Retries of a request that failed with a connection error, a timeout, 429 or 5xx."""
    backoff_s: float = Field(default=1.0, ge=0)
    """First retry delay; doubles at each retry."""
    startup_timeout_s: float = Field(default=300.0, gt=0)
    """How long a local server may take to become healthy."""
    server_args: list[str] = Field(default_factory=lambda: ["--enforce-eager", "--max-model-len", "4096"])
    """Extra arguments for the local vLLM server."""


@EXTRACTORS.register("openai_server")
class OpenAIServerExtractor(ChatModelExtractor):
    name = "openai_server"
    version = "1"
    config_model = OpenAIServerConfig
    config: OpenAIServerConfig
    _server: subprocess.Popen | None = None
    """The local vLLM server this extractor started, if any."""

    @property
    def model_revision(self) -> str | None:
        """Weights digest of a local model; None for a remote endpoint, whose weights the harness cannot see."""
        return None if self.config.url else super().model_revision

    def load(self) -> None:
        """Connect to ``url``, or start a local vLLM server and wait until it is healthy."""
        if self._model is not None:
            return
        from openai import OpenAI

        cfg = self.config
        url = cfg.url or self._start_local_server()
        self._served = cfg.served_model or self.model_id
        self._model = OpenAI(base_url=url, api_key=cfg.api_key, timeout=cfg.timeout_s, max_retries=0)

    def _start_local_server(self) -> str:
        from extractors.llm.weights import model_path, model_revision

        cfg = self.config
        path = model_path(cfg.model)
        self._revision = model_revision(path)
        engine_pool.shutdown()  # a vLLM engine an earlier job of this process left loaded holds the device the server needs
        port = free_port()
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(path), "--host", "127.0.0.1",
                   "--port", str(port), "--served-model-name", str(self.model_id), "--seed", str(cfg.seed),
                   "--structured-outputs-config", json.dumps({"backend": "xgrammar", "disable_any_whitespace": True}),
                   *cfg.server_args]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        atexit.register(stop_process_group, server)  # also when the job dies before close()
        self._server = server
        health = f"http://127.0.0.1:{port}/health"
        deadline = time.monotonic() + cfg.startup_timeout_s
        while time.monotonic() < deadline:
            if server.poll() is not None:
                stderr = server.stderr.read().decode()[-500:]
                raise RuntimeError(f"local vLLM server exited with status {server.returncode}: {stderr}")
            try:
                with urllib.request.urlopen(health, timeout=2) as answer:
                    if answer.status == 200:
                        self.log.info("openai_server: local vLLM server ready on 127.0.0.1:%d", port)
                        return f"http://127.0.0.1:{port}/v1"
            except OSError:
                time.sleep(1.0)
        stop_process_group(server)
        raise TimeoutError(f"local vLLM server not healthy after {cfg.startup_timeout_s:g} s")

    def _unload(self) -> None:
        """Stop the local server this extractor started (a remote endpoint is left alone)."""
        server, self._server = self._server, None
        if server is not None:
            stop_process_group(server)

    def _image_part(self, image) -> dict[str, Any]:
        """Servers take images as ``image_url`` parts; a data URL keeps the page off the network."""
        return {"type": "image_url", "image_url": {"url": image_data_url(image)}}

    def _complete(self, request: ChatRequest) -> None:
        import openai

        cfg = self.config
        retryable = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError)
        for attempt in range(cfg.max_retries + 1):
            started = time.perf_counter()
            try:
                answer = self._model.chat.completions.create(
                    model=self._served,
                    messages=request.messages,
                    max_tokens=cfg.max_new_tokens,
                    temperature=cfg.temperature,
                    seed=cfg.seed,
                    response_format={"type": "json_schema", "json_schema": {"name": "findings", "schema": self.schema}},
                )
            except retryable as error:
                if attempt == cfg.max_retries:
                    request.error = f"server failed after {attempt + 1} attempts: {type(error).__name__}"
                    return
                time.sleep(cfg.backoff_s * 2**attempt)
                continue
            except openai.APIError as error:  # 4xx other than 429: retrying will not help
                request.error = f"server rejected the request: {type(error).__name__}"
                return
            choice = answer.choices[0]
            request.raw = choice.message.content or ""
            request.truncated = choice.finish_reason == "length"
            request.input_tokens = answer.usage.prompt_tokens if answer.usage else 0
            request.output_tokens = answer.usage.completion_tokens if answer.usage else 0
            request.latency_s = time.perf_counter() - started
            return

    def _generate(self, batch: list[ChatRequest]) -> None:
        """Every prompt as its own request, ``max_concurrency`` in flight; a failed request sets its ``error``."""
        with ThreadPoolExecutor(max_workers=self.config.max_concurrency, thread_name_prefix="openai") as pool:
            list(pool.map(self._complete, batch))
