"""Page images never outlive the run: removed on close, on exit, on an error, on SIGTERM/SIGINT, and after a
SIGKILL by the next run. Real processes, real signals; the temporary folder is the test's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from harness.intake.degrade.config import DegradationConfig, RenderConfig
from harness.intake.ocr import IntakeConfig
from harness.pipeline.preparation import PAGES_PREFIX, ChartPreparer
from harness.pipeline.scratch import ScratchFolder

HANG_GUARD_S = 60
"""Only to stop a broken test from hanging forever; nothing asserts on time."""

# A run in a child process: a preparer whose folder holds a page, then whatever the test asks of it.
CHILD = """
import os, signal, sys, tempfile, time
from pathlib import Path
from harness.intake.degrade.config import DegradationConfig, RenderConfig
from harness.intake.ocr import IntakeConfig
from harness.pipeline.preparation import ChartPreparer

signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal (a background parent may have SIGINT ignored)
preparer = ChartPreparer(DegradationConfig(name="rendered", render=RenderConfig()), IntakeConfig(), seed=0, progress=False)
folder = next(Path(tempfile.gettempdir()).glob(f"harness-pages-{os.getpid()}-*"))
(folder / "page-000.png").write_bytes(b"a page of a patient's chart")
then = sys.argv[1]
if then == "raise":
    raise RuntimeError("the run failed")
if then == "fork":  # a forked child that gets SIGTERM must not take its parent's folder
    started, ready = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(ready, b"!")
        time.sleep(HANG)
        os._exit(0)
    os.read(started, 1)  # a signal that reaches the child inside fork() is dropped by Python
    os.kill(child, signal.SIGTERM)
    os.waitpid(child, 0)
    print("kept" if folder.is_dir() else "removed by the child", flush=True)
    preparer.close()
if then == "wait":
    print("ready", flush=True)
    time.sleep(HANG)
""".replace("HANG", str(HANG_GUARD_S))


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder of this process and its children: nobody else's page folders in sight."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return tmp_path


def page_folders(temp_dir: Path) -> list[Path]:
    return sorted(temp_dir.glob(f"{PAGES_PREFIX}*"))


def child(then: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, then], cwd=PROJECT_ROOT, env=os.environ.copy(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def preparer() -> ChartPreparer:
    return ChartPreparer(DegradationConfig(name="rendered", render=RenderConfig()), IntakeConfig(), seed=0, progress=False)


def test_the_folder_is_named_for_its_owner_and_removed_on_close(temp_dir: Path) -> None:
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    made = preparer()
    (folder,) = page_folders(temp_dir)
    assert folder.name.startswith(f"{PAGES_PREFIX}{os.getpid()}-")
    assert signal.getsignal(signal.SIGTERM) != handlers[signal.SIGTERM]  # ours while the preparer is open
    made.close()
    assert page_folders(temp_dir) == []
    assert {signum: signal.getsignal(signum) for signum in handlers} == handlers  # given back


@pytest.mark.parametrize("then", ["exit", "raise"])
def test_a_run_that_ends_without_close_leaves_no_folder(temp_dir: Path, then: str) -> None:
    run = child(then)
    _, err = run.communicate(timeout=HANG_GUARD_S)
    assert run.returncode == (1 if then == "raise" else 0), err
    assert page_folders(temp_dir) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_remove_the_folder_and_exit(temp_dir: Path, signum: int) -> None:
    run = child("wait")
    assert run.stdout.readline() == "ready\n"
    (folder,) = page_folders(temp_dir)
    assert (folder / "page-000.png").is_file()
    run.send_signal(signum)
    _, err = run.communicate(timeout=HANG_GUARD_S)
    # SIGTERM: a clean exit with the shell's status for it; SIGINT: KeyboardInterrupt, which Python ends by SIGINT
    assert run.returncode == (128 + signal.SIGTERM if signum == signal.SIGTERM else -signal.SIGINT), err
    assert page_folders(temp_dir) == []


def test_a_sigkilled_run_leaves_a_folder_the_next_preparer_removes(temp_dir: Path) -> None:
    run = child("wait")
    assert run.stdout.readline() == "ready\n"
    run.kill()  # nothing can clean up after SIGKILL
    run.communicate(timeout=HANG_GUARD_S)
    (stale,) = page_folders(temp_dir)
    assert stale.name.startswith(f"{PAGES_PREFIX}{run.pid}-") and (stale / "page-000.png").is_file()
    live = ScratchFolder(PAGES_PREFIX)  # a run still going (this process): kept
    others = temp_dir / "harness-pages-unrelated"  # not ours by name: kept
    others.mkdir()

    made = preparer()
    try:
        assert not stale.exists() and live.path.is_dir() and others.is_dir()
        assert len(page_folders(temp_dir)) == 3  # the live one, the unrelated one, the new preparer's
    finally:
        made.close()
        live.close()


def test_a_forked_child_stopped_by_sigterm_leaves_its_parents_folder(temp_dir: Path) -> None:
    run = child("fork")
    out, err = run.communicate(timeout=HANG_GUARD_S)
    assert run.returncode == 0, err
    assert out == "kept\n"
    assert page_folders(temp_dir) == []  # and the parent still removed it at close
