"""The MLflow UI for the team: ``mlflow server`` over the project's store, light settings.

    harness server                      # http://127.0.0.1:5000, store outputs/mlflow.db
    harness server --port 0             # any free port
    harness server --tracking-uri sqlite:///path/to/mlflow.db

Binds to 127.0.0.1 only (reach it from elsewhere through an SSH tunnel), one worker and MLflow's
job execution off: about 5 s and 0.5 GB to start instead of about 20 s and 3 GB. Runs in the
foreground until Ctrl-C, which stops the server and every process it started. A port that
something else already listens on is refused (exit 2), never mistaken for our server. Killed
outright (SIGKILL), it still takes mlflow with it: on Linux the kernel sends mlflow SIGTERM when
this process dies, and mlflow stops its uvicorn worker on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from harness.errors import USAGE_ERROR, HarnessError
from harness.processes import free_port, stop_process_group
from harness.tracking.mlflow_store import resolve_uri
from harness.tracking.run_store import DEFAULT_URI

PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal the kernel sends a process when its parent dies."""


class PortUnavailableError(HarnessError, OSError):
    """The port asked for cannot be listened on (another service has it, or it is privileged)."""


def check_port_free(port: int) -> None:
    """Raise ``PortUnavailableError`` unless a server could listen on 127.0.0.1:``port`` now."""
    with socket.socket() as probe:
        # As servers do: a port held only by closed connections (TIME_WAIT) is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise PortUnavailableError(f"port {port} on 127.0.0.1 is not available ({error.strerror}): another service "
                                       "may listen there; pass another --port, or --port 0 for any free one") from None


def die_with_this_process() -> Callable[[], None] | None:
    """A ``preexec_fn`` (Linux) after which the child gets SIGTERM when this process dies, even by SIGKILL; else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded now: between fork and exec the child should only make the call
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0))
        if os.getppid() != parent:  # this process died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def server_command(uri: str, port: int) -> list[str]:
    """The ``mlflow server`` command line for the store at ``uri`` on 127.0.0.1:``port``."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1"]


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float) -> None:
    """Return once ``url/health`` answers; raise when the server exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"mlflow server not healthy after {timeout_s:g} s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness server", description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=DEFAULT_URI, help=f"MLflow store (default {DEFAULT_URI})")
    parser.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for the server")
    args = parser.parse_args(argv)

    uri = resolve_uri(args.tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        print(f"error: no MLflow store at {args.tracking_uri} (run a job first, or pass --tracking-uri)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by a supervisor: still take the server down with us
    port = args.port or free_port()
    try:
        check_port_free(port)
    except PortUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # Its own process group, so that a stop reaches mlflow's uvicorn worker too (stop_process_group).
    server = subprocess.Popen(server_command(uri, port), env=env, start_new_session=True, preexec_fn=die_with_this_process())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server, args.startup_timeout)
        print(f"MLflow UI: {url}  (store {args.tracking_uri}; Ctrl-C stops it)", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        stop_process_group(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
