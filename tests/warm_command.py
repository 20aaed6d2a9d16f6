"""``harness`` run the fast way in tests: forked from a warm interpreter (``warm_server.py``) instead of started cold.

A cold ``python -m harness`` spends most of a short job importing (Hydra, MLflow, the ICD-10-CM tabular: about 5 s of a
3-chart job's 11 s); the bad-input corpus alone runs the command about 120 times. The command, its arguments, working
folder, environment, output and exit status are those of the real one; see ``warm_server`` for what is shared.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SERVER = Path(__file__).with_name("warm_server.py")


class WarmHarness:
    """One warm interpreter for this test process, started on first use and stopped when the process ends."""

    def __init__(self) -> None:
        self._server: subprocess.Popen | None = None
        atexit.register(self.stop)

    def _started(self) -> subprocess.Popen:
        if self._server is None or self._server.poll() is not None:
            self._server = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            cwd=SERVER.parents[1], env=os.environ.copy(), text=True)
            ready = self._server.stdout.readline()
            if not ready.startswith('{"ready"'):
                raise RuntimeError(f"the warm harness did not start (exit {self._server.wait()})")
        return self._server

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        """``python -m harness <argv>`` in ``cwd`` with ``env``, as ``subprocess.run`` with ``capture_output=True,
        text=True`` returns it (``TimeoutExpired`` past ``timeout`` seconds)."""
        server = self._started()
        with tempfile.TemporaryDirectory(prefix="warm-harness-") as out:
            request = {"argv": list(argv), "cwd": str(cwd), "env": dict(env),
                       "stdout": f"{out}/stdout", "stderr": f"{out}/stderr", "timeout": timeout}
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            reply = server.stdout.readline()
            if not reply:
                raise RuntimeError(f"the warm harness stopped (exit {server.wait()}) while running harness {' '.join(argv)}")
            ended = json.loads(reply)
            stdout, stderr = (Path(out, name).read_text(errors="replace") for name in ("stdout", "stderr"))
        if ended["timed_out"]:
            raise subprocess.TimeoutExpired(["harness", *argv], timeout, stdout, stderr)
        return subprocess.CompletedProcess(["harness", *argv], ended["returncode"], stdout, stderr)

    def stop(self) -> None:
        if self._server is not None and self._server.poll() is None:
            self._server.stdin.close()
            self._server.wait(timeout=30)


WARM = WarmHarness()
