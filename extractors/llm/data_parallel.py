"""Data parallel for the ``vllm`` extractor: one engine process per rank, fed from the one streaming pipeline.

vLLM 0.32.0's offline ``LLM(data_parallel_size > 1)`` raises by design (single-process data parallel "may hang"); its
supported route is one process per rank, each with its own devices. So ``data_parallel_size: N`` starts N rank
processes (``multiprocessing`` spawn: no CUDA state is forked). Each rank gets its environment before it imports
vLLM (``rank_envs``): ``CUDA_VISIBLE_DEVICES`` = its group of ``tensor_parallel_size`` GPUs, or on CPU
``VLLM_CPU_OMP_THREADS_BIND`` = its share of this process's cores (vLLM's own per-rank list, ``|`` between tensor
parallel workers). Inside, a rank runs an ordinary ``VllmExtractor`` with ``data_parallel_size: 1``, so prompting,
structured decoding, evidence alignment and the engine lifecycle (a dead engine core restarted once) are the same code
as one engine.

``DataParallelEngines`` is the dispatcher the ``VllmExtractor`` uses in place of an ``LLM``: ``submit`` gives each chart
to the live rank with the fewest charts in flight, ``collect`` gathers finished charts from every rank, so each chart
is extracted once and the pipeline keeps input order, the extraction cache and kill/resume as with one engine. It is
shared through ``engine_pool`` like one engine (a sweep's jobs reuse the loaded ranks; ``begin_job`` hands each rank
the job's sampling settings, ``end_job`` aborts what a stopped job left in flight). A rank process that dies sends its
in-flight charts to review (``engine failed: data-parallel rank <n> ...``) and later charts go to the live ranks; once
none is left, the extractor's own lifecycle restarts all of them once.

Messages, parent to rank: ``("job", config)``, ``("submit", [(ticket, chart)])``, ``("end",)``, ``("stop",)``;
rank to parent: ``("ready", run_params)``, ``("failed", reason)``, ``("done", [(ticket, extraction)])``. A chart
travels with its ticket as its id (and without gold codes), so two charts with one id never mix.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from harness.contracts import Chart, Extraction

log = logging.getLogger(__name__)

CPU_BIND_ENV = "VLLM_CPU_OMP_THREADS_BIND"
"""vLLM's CPU core list for its workers' OpenMP threads (``auto``, ``nobind``, or ids such as ``0-3|4-7``)."""
GPU_ENV = "CUDA_VISIBLE_DEVICES"
RANK_IDLE_S = 1.0
"""How long an idle rank waits for a message before looking again."""
RANK_STEP_S = 0.05
"""How long a busy rank's ``collect`` waits for a chart before reading its messages again."""
STOP_WAIT_S = 60.0
"""How long ``close`` waits for a rank to stop its engine before killing it."""


def rank_envs(data_parallel: int, tensor_parallel: int, device: str, devices: Sequence[str],
              cpu_bind: str = "auto") -> list[dict[str, str]]:
    """Each rank's environment: its ``tensor_parallel`` GPUs of ``devices`` (visible GPU ids) on ``cuda``; on ``cpu``
    an equal share of ``devices`` (usable core ids) per tensor-parallel worker, or the slice of an explicit
    ``cpu_bind`` list (``nobind`` for every rank as given). Raises ``ValueError`` when there are too few devices."""
    workers = data_parallel * tensor_parallel
    what = f"data_parallel_size={data_parallel} x tensor_parallel_size={tensor_parallel}"
    if device == "cpu" and cpu_bind != "auto":
        if cpu_bind == "nobind":
            return [{CPU_BIND_ENV: "nobind"} for _ in range(data_parallel)]
        lists = cpu_bind.split("|")
        if len(lists) != workers:
            raise ValueError(f"{CPU_BIND_ENV}={cpu_bind!r} holds {len(lists)} core list(s); {what} needs {workers} "
                             "(one per worker, separated by '|'), or 'auto'")
        return [{CPU_BIND_ENV: "|".join(lists[r * tensor_parallel : (r + 1) * tensor_parallel])}
                for r in range(data_parallel)]
    if device not in ("cpu", "cuda"):
        raise ValueError(f"data parallel runs on cpu or cuda, not on {device}")
    unit = "GPU(s)" if device == "cuda" else "CPU core(s)"
    if len(devices) < workers:
        raise ValueError(f"{what} needs {workers} {unit}; {len(devices)} visible")
    share = 1 if device == "cuda" else len(devices) // workers
    groups = [",".join(devices[w * share : (w + 1) * share]) for w in range(workers)]
    ranks = [groups[r * tensor_parallel : (r + 1) * tensor_parallel] for r in range(data_parallel)]
    if device == "cuda":
        return [{GPU_ENV: ",".join(rank)} for rank in ranks]
    return [{CPU_BIND_ENV: "|".join(rank)} for rank in ranks]


def visible_devices(device: str) -> list[str]:
    """The GPU ids this process may use (``CUDA_VISIBLE_DEVICES``, else every GPU vLLM counts), or on CPU its cores."""
    if device != "cuda":
        return [str(core) for core in sorted(os.sched_getaffinity(0))]
    if os.environ.get(GPU_ENV, "").strip():
        return [part.strip() for part in os.environ[GPU_ENV].split(",") if part.strip()]
    from vllm.platforms import current_platform

    return [str(index) for index in range(current_platform.device_count())]


def vllm_rank_extractor(config: Mapping[str, Any]):
    """A rank's extractor: the ``vllm`` extractor with one engine (``config`` has ``data_parallel_size: 1``)."""
    from extractors.llm.vllm_backend import VllmExtractor

    return VllmExtractor(dict(config))


# -- a rank process ---------------------------------------------------------------------------------


def run_rank(rank: int, env: Mapping[str, str], inbox: Connection, outbox: Connection,
             make_extractor: Callable[[Mapping[str, Any]], Any]) -> None:
    """A rank process's body: set its environment (before anything imports vLLM), then serve the parent's messages with
    an extractor from ``make_extractor(config)`` (``load``, ``submit``, ``collect``, ``close``, ``run_params``)."""
    os.environ.update(env)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [vllm data-parallel rank {rank}] %(name)s "
                        "%(levelname)s: %(message)s")
    messages: queue.Queue = queue.Queue()

    def read() -> None:  # a thread drains the pipe, so the parent's sends never wait on a busy engine
        try:
            while True:
                messages.put(inbox.recv())
        except (EOFError, OSError):  # the parent is gone: stop
            messages.put(("stop",))

    threading.Thread(target=read, name="rank-inbox", daemon=True).start()
    extractor, in_flight = None, 0
    try:
        while True:
            try:
                message = messages.get(timeout=RANK_IDLE_S) if not in_flight else messages.get_nowait()
            except queue.Empty:
                message = None
            if message is not None:
                kind = message[0]
                if kind == "stop":
                    return
                if kind in ("job", "end") and extractor is not None:
                    extractor.close()  # aborts what the last job left in flight; the engine stays loaded
                    extractor, in_flight = None, 0
                if kind == "job":
                    extractor = make_extractor(message[1])
                    try:
                        extractor.load()
                    except Exception as error:  # noqa: BLE001 - the parent decides: every rank must start
                        outbox.send(("failed", f"{type(error).__name__}: {error}"))
                        extractor = None
                        continue
                    outbox.send(("ready", dict(extractor.run_params())))
                elif kind == "submit" and extractor is not None:
                    extractor.submit([chart.model_copy(update={"id": str(ticket), "gold": []})
                                      for ticket, chart in message[1]])
                    in_flight += len(message[1])
            if in_flight:
                finished = extractor.collect(wait_s=RANK_STEP_S)
                if finished:
                    in_flight -= len(finished)
                    outbox.send(("done", [(int(extraction.chart_id), extraction) for extraction in finished]))
    finally:
        if extractor is not None:
            extractor.close()
        from extractors.llm import engine_pool

        engine_pool.shutdown()  # this rank's engine: its worker processes stop with it


# -- the dispatcher (parent side) -------------------------------------------------------------------


@dataclass
class _Rank:
    number: int
    process: Any
    inbox: Connection
    """Parent to rank."""
    outbox: Connection
    """Rank to parent."""
    in_flight: dict[int, Chart] = field(default_factory=dict)
    """Charts given to the rank and not yet back, by ticket."""
    lost: str | None = None
    """Why the rank is gone (its charts then go to review); None while it runs."""


class DataParallelEngines:
    """``len(envs)`` rank processes, one engine each, used like one engine: ``begin_job``, ``submit``, ``collect``,
    ``end_job``, ``close`` (see the module)."""

    def __init__(self, envs: Sequence[Mapping[str, str]], make_extractor: Callable[[Mapping[str, Any]], Any] | None = None):
        """Start one rank process per environment of ``envs``; each serves jobs with ``make_extractor(config)``
        (``vllm_rank_extractor`` unless given: a module-level callable, pickled by name into the rank)."""
        make_extractor = make_extractor or vllm_rank_extractor
        context = multiprocessing.get_context("spawn")
        self._ranks: list[_Rank] = []
        self._back: list[tuple[Chart, Extraction | str]] = []
        """Charts back outside ``collect`` (a rank found dead on ``submit``, no live rank), returned by the next one."""
        self._next_ticket = 0
        self.served = [0] * len(envs)
        """Charts each rank has finished (in every job)."""
        self.rank_params: dict[str, str] = {}
        """``run_params`` of the first rank's extractor, once a job began (every rank runs the same settings)."""
        for number, env in enumerate(envs):
            to_rank, inbox = context.Pipe(duplex=False)
            outbox, from_rank = context.Pipe(duplex=False)
            # not a daemon: a daemonic process may not start vLLM's engine processes
            process = context.Process(target=run_rank, args=(number, dict(env), to_rank, from_rank, make_extractor),
                                      name=f"vllm-dp-rank-{number}")
            process.start()
            to_rank.close()
            from_rank.close()  # this process holds no writing end: a rank that dies reads as end of file
            self._ranks.append(_Rank(number, process, inbox, outbox))
        log.info("vllm data parallel: %d rank processes (%s)", len(envs),
                 ", ".join(f"rank {r.number} pid {r.process.pid}: {dict(envs[r.number])}" for r in self._ranks))

    def live_ranks(self) -> int:
        """Ranks still running."""
        return sum(rank.lost is None for rank in self._ranks)

    def alive(self) -> bool:
        """Every rank still runs (``engine_pool`` starts fresh ranks for the next job otherwise)."""
        return all(rank.lost is None and rank.process.is_alive() for rank in self._ranks)

    def begin_job(self, config: Mapping[str, Any]) -> None:
        """Give every rank the job's settings (``data_parallel_size: 1``) and wait until each has its engine: started,
        or reused when the settings match its loaded one. Raises ``RuntimeError`` naming each rank that failed."""
        for rank in self._ranks:
            rank.in_flight.clear()
            self._send(rank, ("job", dict(config)))
        replies = [(rank, self._reply(rank)) for rank in self._ranks]
        failures = [f"data-parallel rank {rank.number}: {body}" for rank, (kind, body) in replies if kind != "ready"]
        if failures:
            raise RuntimeError("; ".join(failures))
        self.rank_params = replies[0][1][1]

    def end_job(self) -> None:
        """The job is over: ranks abort what it left in flight (results still arriving for it are dropped)."""
        self._back.clear()
        for rank in self._ranks:
            rank.in_flight.clear()
            self._send(rank, ("end",))

    def submit(self, charts: Sequence[Chart]) -> None:
        """Give each chart to the live rank with the fewest charts in flight; with no live rank, the chart comes back
        from ``collect`` with the reason."""
        batches: dict[int, list[tuple[int, Chart]]] = {}
        self._back += self._reap()  # a rank that died since the last collect gets no more charts
        live = [rank for rank in self._ranks if rank.lost is None]
        for chart in charts:
            if not live:
                self._back.append((chart, self._none_left()))
                continue
            rank = min(live, key=lambda r: len(r.in_flight))
            ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
            rank.in_flight[ticket] = chart
            batches.setdefault(rank.number, []).append((ticket, chart))
        for number, batch in batches.items():
            self._send(self._ranks[number], ("submit", batch))

    def collect(self, wait_s: float) -> list[tuple[Chart, Extraction | str]]:
        """Charts finished since the last call, each with its extraction or, when its rank died, the reason; waits up
        to ``wait_s`` for the first."""
        deadline = time.perf_counter() + wait_s
        finished, self._back = self._back, []
        while True:
            for rank in self._ranks:
                if rank.lost is None:
                    finished += self._read(rank)
            finished += self._reap()
            live = [rank for rank in self._ranks if rank.lost is None and rank.in_flight]
            left = deadline - time.perf_counter()
            if finished or not live or left <= 0:
                return finished
            wait([conn for rank in live for conn in (rank.outbox, rank.process.sentinel)], timeout=left)

    def close(self) -> None:
        """Stop every rank (its engine first; killed after ``STOP_WAIT_S``); idempotent."""
        for rank in self._ranks:
            if rank.lost is None:
                self._send(rank, ("stop",))
        for rank in self._ranks:
            rank.process.join(STOP_WAIT_S)
            if rank.process.is_alive():
                log.warning("vllm data-parallel rank %d did not stop in %.0f s: killing it", rank.number, STOP_WAIT_S)
                rank.process.kill()
                rank.process.join()
            rank.lost = rank.lost or "stopped"
            rank.inbox.close()
            rank.outbox.close()

    def max_num_seqs(self) -> str | None:
        """The sequences one rank's engine schedules at once, once a job began."""
        return self.rank_params.get("max_num_seqs")

    # -- helpers --------------------------------------------------------------------------------------

    def _send(self, rank: _Rank, message: tuple) -> None:
        if rank.lost is not None:
            return
        try:
            rank.inbox.send(message)
        except OSError:  # the rank is gone: the next reap says how
            rank.process.join(1.0)

    def _read(self, rank: _Rank) -> list[tuple[Chart, Extraction | str]]:
        """The rank's finished charts waiting in its pipe."""
        finished: list[tuple[Chart, Extraction | str]] = []
        try:
            while rank.outbox.poll():
                kind, body = rank.outbox.recv()
                for ticket, extraction in body if kind == "done" else []:
                    chart = rank.in_flight.pop(ticket, None)
                    if chart is not None:  # else a stopped job's chart
                        self.served[rank.number] += 1
                        finished.append((chart, extraction.model_copy(update={"chart_id": chart.id})))
        except (EOFError, OSError):  # exited, or died half way through a message: the reap says how
            rank.process.join(1.0)
        return finished

    def _reply(self, rank: _Rank) -> tuple:
        """The rank's answer to ``job`` (results of an earlier job are dropped), or ``failed`` when it exits first."""
        while rank.lost is None:
            wait([rank.outbox, rank.process.sentinel])
            try:
                while rank.outbox.poll():
                    message = rank.outbox.recv()
                    if message[0] in ("ready", "failed"):
                        return message
            except (EOFError, OSError):
                rank.process.join(1.0)
            if not rank.process.is_alive() and not rank.outbox.poll():
                self._lose(rank)
        return ("failed", rank.lost)

    def _reap(self) -> list[tuple[Chart, Extraction | str]]:
        """Ranks that exited: what they finished is read, their other charts come back with the reason."""
        finished: list[tuple[Chart, Extraction | str]] = []
        for rank in self._ranks:
            if rank.lost is None and not rank.process.is_alive():
                finished += self._read(rank)
                finished += self._lose(rank)
        return finished

    def _lose(self, rank: _Rank) -> list[tuple[Chart, Extraction | str]]:
        """Mark the rank gone; its in-flight charts with the reason."""
        rank.lost = (f"engine failed: data-parallel rank {rank.number} (pid {rank.process.pid}) exited with code "
                     f"{rank.process.exitcode}")
        log.error("vllm %s; %d chart(s) in flight go to review, %d rank(s) left", rank.lost, len(rank.in_flight),
                  self.live_ranks())
        charts = [(chart, rank.lost) for chart in rank.in_flight.values()]
        rank.in_flight.clear()
        return charts

    def _none_left(self) -> str:
        reasons = "; ".join(rank.lost for rank in self._ranks if rank.lost)
        return f"engine failed: no data-parallel rank left ({reasons})"
