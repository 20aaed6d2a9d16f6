"""A warm interpreter that runs ``python -m harness ...`` in forked children (the tests' fast path to the real command).

Started once per test process by ``warm_command.WarmHarness``: it imports what every job imports (Hydra, pydantic
models, MLflow, the ICD-10-CM tabular read into its code sets, the dictionary extractor, reports), then reads one
request per line on stdin: ``{"argv", "cwd", "env", "stdout", "stderr", "timeout"}``. For each it forks a child that
takes the request's working folder, environment and argv, sends its output to the two files and runs ``harness``'s
``__main__`` as ``python -m harness`` would, ending as that interpreter ends (threads joined, exit handlers run). The
reply is one line, ``{"returncode": n, "timed_out": bool}``, ``n`` negative for a signal as ``subprocess`` reports it.
Each command still runs in a process of its own with a fresh Hydra, logging and engine pool; only the imports are
shared (engines are imported by the command that uses them). Commands whose subject is the process itself (signals,
interpreter options, ``PYTHONHASHSEED``, the README's own command line) are run by the tests with ``subprocess``.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import sys
import threading
import traceback

PRELOADED = ("harness.cli", "harness.cli.run", "harness.api", "harness.run", "harness.recording", "harness.job_config",
             "hydra.main", "omegaconf", "mlflow.tracking", "mlflow.store.tracking.sqlalchemy_store", "simple_icd_10_cm",
             "extractors.dictionary.extractor", "extractors.oracle", "coders.engine", "coders.edits", "reports.run_report",
             "reports.plots", "matplotlib.figure", "matplotlib.backends.backend_agg", "harness.pipeline.streaming",
             "harness.operations.queue", "harness.metrics.coding", "harness.trust.billing", "harness.sources.user_files")
"""What a job imports that costs time (``python -X importtime -m harness``), engines excepted: torch and vLLM start
threads or read their settings at import, so a command that needs them imports them itself."""


def preload() -> None:
    import importlib

    from coders.codeset import code_set
    from harness.contracts import DEFAULT_CODE_SET_YEAR

    for name in PRELOADED:
        importlib.import_module(name)
    code_set("icd10cm", DEFAULT_CODE_SET_YEAR).load()
    assert threading.active_count() == 1, f"a preloaded module started a thread: {threading.enumerate()}"


def child(request: dict) -> None:
    """Become ``python -m harness <argv>`` in the request's folder and environment; never returns."""
    import importlib
    import runpy

    os.setpgid(0, 0)  # a timeout stops the command's own children too
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, fd)
        os.close(out)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]
    # PYTHONPATH is read at interpreter start: its entries the server lacks go where a new interpreter puts them
    sys.path[1:1] = [entry for entry in request["env"].get("PYTHONPATH", "").split(os.pathsep) if entry and entry not in sys.path]
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [os.path.join(os.path.dirname(sys.modules["harness"].__file__), "__main__.py"), *request["argv"]]
    importlib.invalidate_caches()  # packages installed since the server started are found, as a new interpreter finds them
    try:
        runpy.run_module("harness", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = stop.code
    except BaseException:  # noqa: BLE001 - reported as the interpreter reports an uncaught exception
        traceback.print_exc()
        code = 1
    end(code)


def end(code: object) -> None:
    """End the child as an interpreter ends (non-daemon threads joined, exit handlers run, output flushed), without
    tearing down the modules it shares with the server: that costs a second and shows nothing."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # what the interpreter runs first at exit: it waits for non-daemon threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code or 0)


def wait(pid: int, timeout: float) -> tuple[int, bool]:
    """The child's exit status as ``subprocess`` reports it, and whether it ran past ``timeout`` seconds (its process
    group is then killed)."""
    handle = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([handle], [], [], timeout)
    finally:
        os.close(handle)
    if not ready:
        os.killpg(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), not ready


def serve() -> None:
    sys.path[0] = os.getcwd()  # as python -m puts it: the tests' folder is no package root
    preload()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request)
        returncode, timed_out = wait(pid, request["timeout"])
        print(json.dumps({"returncode": returncode, "timed_out": timed_out}), flush=True)


if __name__ == "__main__":
    serve()
