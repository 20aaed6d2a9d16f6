"""The ``openai_server`` extractor: the findings prompt sent to any OpenAI-compatible endpoint.

Give ``url`` to use a running server (``vllm serve`` on GPUs, or any compatible endpoint), or leave it empty and the
harness starts a local vLLM server itself (``extractors.llm.local_server``: ``vllm serve`` on 127.0.0.1 on a free port,
its output in a log file, stopped when the extractor is closed or the process ends).

Every prompt is its own request, ``max_concurrency`` of them in flight at once (a thread pool over one HTTP client). The
streaming pipeline hands each chart over as soon as intake has it ready (``submit``) and takes back each chart whose
requests have all been answered (``collect``), so the server's continuous batching always holds as many requests as
there are; ``extract`` sends a whole list of charts the same way and waits for all of them. A request has a timeout and
is retried with exponential backoff on connection errors, timeouts, 429 and 5xx; then its chart goes to review with the
reason. The schema travels as ``response_format`` json_schema, and its effect is measured (``schema_valid_rate``):
servers silently ignore fields they do not know.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from extractors.base import StreamingExtractor
from extractors.llm import engine_pool, local_server, vllm_config
from extractors.llm.chat_model import ChatModelConfig, ChatModelExtractor, ChatRequest
from extractors.llm.prompting import image_data_url
from harness.contracts import Chart, Extraction
from harness.processes import free_port
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
    max_concurrency: int = Field(default=256, ge=1)
    """Requests in flight at once. vLLM's server runs up to ``--max-num-seqs`` sequences at a time (its default: 1,024
    on an H100 or H200, 256 on smaller GPUs, 128 on CPU) and queues the rest; fewer requests in flight than that leave
    its batch part empty. Lower it for an endpoint that limits concurrent requests."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Per-request timeout."""
    max_retries: int = Field(default=3, ge=0)
    """Retries of a request that failed with a connection error, a timeout, 429 or 5xx."""
    backoff_s: float = Field(default=1.0, ge=0)
    """First retry delay; doubles at each retry."""
    startup_timeout_s: float = Field(default=300.0, gt=0)
    """How long a local server may take to become healthy."""
    max_model_len: int = Field(default=4096, ge=256)
    """Local server: longest prompt plus output, in tokens (``--max-model-len``)."""
    enforce_eager: bool | Literal["auto"] = "auto"
    """Local server: skip graph compilation and CUDA graphs (``--enforce-eager``). ``auto`` is resolved as for the
    ``vllm`` extractor: eager on CPU (a fast start), CUDA graphs on GPUs (slower start, faster decoding)."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    """Local server: GPUs the model is sharded over (``--tensor-parallel-size``)."""
    data_parallel_size: int = Field(default=1, ge=1)
    """Local server: engine replicas behind its one endpoint (``--data-parallel-size``)."""
    server_args: list[str] = Field(default_factory=list)
    """Further ``vllm serve`` arguments for the local server (e.g. ``[--max-num-seqs, "512"]``), after the ones above."""


@dataclass
class _Connection:
    """What ``load`` opened: the client, the requests' threads, and where charts whose requests all finished go."""

    client: Any
    pool: ThreadPoolExecutor
    finished: queue.SimpleQueue
    closed: threading.Event
    """Set by ``close``: requests still running stop retrying."""


@dataclass
class _InFlight:
    """A submitted chart: its requests and how many of them are still running."""

    chart: Chart
    requests: list[ChatRequest]
    left: int


@EXTRACTORS.register("openai_server")
class OpenAIServerExtractor(ChatModelExtractor, StreamingExtractor):
    name = "openai_server"
    version = "1"
    config_model = OpenAIServerConfig
    config: OpenAIServerConfig
    _server: local_server.LocalServer | None = None
    """The local vLLM server this extractor started, if any."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self._served: str | None = None
        self._in_flight = 0
        """Submitted charts not yet collected."""
        self._unsent: list[Extraction] = []
        """Charts finished without a request (no prompt could be made, or none was needed): the next ``collect``'s."""
        self._lock = threading.Lock()

    @property
    def model_revision(self) -> str | None:
        """Weights digest of a local model; None for a remote endpoint, whose weights the harness cannot see."""
        return None if self.config.url else super().model_revision

    @property
    def base_url(self) -> str | None:
        """The endpoint requests go to (the local server's once started); None before ``load``."""
        return str(self._model.client.base_url) if self._model is not None else None

    @property
    def served_model(self) -> str | None:
        """The model name requests ask for; None before ``load``."""
        return self._served

    def load(self) -> None:
        """Connect to ``url``, or start a local vLLM server and wait until it is healthy."""
        if self._model is not None:
            return
        import httpx
        from openai import DefaultHttpxClient, OpenAI

        cfg = self.config
        url = cfg.url or self._start_local_server()
        self._served = cfg.served_model or self.model_id
        # one connection per request in flight (httpx keeps 100 by default and would reopen the others each time)
        limits = httpx.Limits(max_connections=cfg.max_concurrency, max_keepalive_connections=cfg.max_concurrency)
        client = OpenAI(base_url=url, api_key=cfg.api_key, timeout=cfg.timeout_s, max_retries=0,
                        http_client=DefaultHttpxClient(limits=limits))
        pool = ThreadPoolExecutor(max_workers=cfg.max_concurrency, thread_name_prefix="openai")
        self._model = _Connection(client, pool, queue.SimpleQueue(), threading.Event())

    def _start_local_server(self) -> str:
        from extractors.llm.weights import model_path, model_revision

        cfg = self.config
        path = model_path(cfg.model)
        self._revision = model_revision(path)
        engine_pool.shutdown()  # a vLLM engine an earlier job of this process left loaded holds the device the server needs
        port = free_port()
        command = local_server.serve_command(cfg, str(path), str(self.model_id), port, vllm_config.engine_device())
        self._server = local_server.start(command, port, cfg.startup_timeout_s)
        return self._server.url

    def _unload(self) -> None:
        """Stop the requests still running and the local server this extractor started (a remote endpoint is left
        alone); charts submitted and not collected are dropped."""
        connection = self._model
        connection.closed.set()
        connection.pool.shutdown(wait=False, cancel_futures=True)
        connection.client.close()  # requests still waiting on the server end now
        self._in_flight = 0
        self._unsent.clear()
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def _image_part(self, image) -> dict[str, Any]:
        """Servers take images as ``image_url`` parts; a data URL keeps the page off the network."""
        return {"type": "image_url", "image_url": {"url": image_data_url(image)}}

    def _send(self, connection: _Connection, request: ChatRequest) -> None:
        """One request to the end (an answer or ``error``); never raises, so one bad answer fails its prompt only."""
        try:
            self._complete(connection, request)
        except Exception as error:  # noqa: BLE001 - e.g. an answer without choices
            request.error = f"generation failed: {type(error).__name__}: {error}"

    def _complete(self, connection: _Connection, request: ChatRequest) -> None:
        import openai

        cfg = self.config
        retryable = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError)
        for attempt in range(cfg.max_retries + 1):
            started = time.perf_counter()
            try:
                answer = connection.client.chat.completions.create(
                    model=self._served,
                    messages=request.messages,
                    max_tokens=cfg.max_new_tokens,
                    temperature=cfg.temperature,
                    seed=cfg.seed,
                    response_format={"type": "json_schema", "json_schema": {"name": "findings", "schema": self.schema}},
                )
            except retryable as error:
                if attempt == cfg.max_retries or connection.closed.wait(cfg.backoff_s * 2**attempt):
                    request.error = f"server failed after {attempt + 1} attempts: {type(error).__name__}"
                    return
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
        connection = self._model
        wait([connection.pool.submit(self._send, connection, request) for request in batch])

    # -- streaming (the pipeline hands over each chart as soon as it is ready) -------------------------------------

    def submit(self, charts: Sequence[Chart]) -> None:
        """Send each chart's requests now (they join the ones in flight, up to ``max_concurrency``); a chart that cannot
        be prompted comes back from ``collect`` with ``error`` set, the others are unaffected."""
        if not charts:
            return
        try:
            self.load()
        except Exception as error:  # noqa: BLE001 - e.g. the local server did not start: every chart goes to review
            self.log.error("%s: cannot load model %r: %s", self.name, self.config.model, error)
            self._unsent.extend(self._extraction(chart, [], error=f"model unavailable: {type(error).__name__}: {error}")
                                for chart in charts)
            return
        connection = self._model
        for chart in charts:
            try:
                requests = self._requests(0, chart)
            except Exception as error:  # noqa: BLE001 - e.g. a page image that cannot be read
                self._unsent.append(self._extraction(chart, [], error=f"prompt failed: {type(error).__name__}: {error}"))
                continue
            if not requests:  # nothing to send (no page, say): done now
                self._unsent.append(self._extraction_or_failure(chart, []))
                continue
            flight = _InFlight(chart, requests, len(requests))
            self._in_flight += 1
            for request in requests:
                future = connection.pool.submit(self._send, connection, request)
                future.add_done_callback(lambda _, flight=flight: self._request_done(connection, flight))

    def _request_done(self, connection: _Connection, flight: _InFlight) -> None:
        """In the request's thread: the chart is finished once its last request is."""
        with self._lock:
            flight.left -= 1
            last = flight.left == 0
        if last:
            connection.finished.put(flight)

    def collect(self, wait_s: float) -> list[Extraction]:
        """Charts whose requests have all finished since the last call, waiting up to ``wait_s`` for the first."""
        done, self._unsent = self._unsent, []
        if self._model is None or not self._in_flight:
            return done
        finished = self._model.finished
        flights = []
        if not done:
            try:
                flights.append(finished.get(timeout=wait_s))
            except queue.Empty:
                return done
        while True:
            try:
                flights.append(finished.get_nowait())
            except queue.Empty:
                break
        self._in_flight -= len(flights)
        return done + [self._extraction_or_failure(flight.chart, flight.requests) for flight in flights]

