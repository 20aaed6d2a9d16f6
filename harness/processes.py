"""Local server processes: a free port to bind one to, and stopping one with everything it started.

A bottom layer: standard library only, used by the MLflow UI launcher (``harness.tracking.server``) and the
local vLLM server of the ``openai_server`` extractor.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process_group(process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Stop a server started with ``start_new_session=True`` and everything it started: TERM, then KILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
