"""Exit codes and reads: a store that is no database, a file that is not one, a place that cannot be written.

Each ends the real ``harness`` command with one ``error:`` line naming the input, exit 2, never a traceback; the gate
keeps exit 1 for a regression only. Tests may run as root, which ignores permissions: unwritable places are a path
under a file, a place under ``/proc``, or (as root) ``/proc`` itself, which root cannot write either.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import harness


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``harness *args`` in ``cwd``, whatever its exit status (a read that blocks or never ends fails on the timeout)."""
    return harness(cwd, *args, check=False)


def refused(done: subprocess.CompletedProcess, *named: str) -> str:
    """The one line the command printed on stderr, after checking it exited 2 with it and named ``named``."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1 and "error:" in lines[0], done.stderr[-3000:]
    for text in named:
        assert text in lines[0], lines[0]
    return lines[0]


def not_a_database(tmp_path: Path, content: bytes) -> str:
    store = tmp_path / "store.db"
    store.write_bytes(content)
    return f"sqlite:///{store}"


STORE_CONTENT = {"text_file": b"runs are in the other folder\n", "garbage": bytes(range(256)) * 40}


@pytest.mark.parametrize("content", STORE_CONTENT.values(), ids=STORE_CONTENT.keys())
def test_gate_on_a_store_that_is_no_database_exits_2_not_1(tmp_path: Path, content: bytes) -> None:
    uri = not_a_database(tmp_path, content)
    done = run(tmp_path, "gate", "--candidate", "latest", "--baseline", "champion", "--tracking-uri", uri)
    refused(done, f"tracking store '{uri}' cannot be used", "file is not a database")


READERS = {
    "runs": ["runs"],
    "report_run": ["report", "run", "latest"],
    "report_compare": ["report", "compare", "champion", "latest"],
    "report_sweep": ["report", "sweep", "latest"],
    "merge": ["merge", "latest"],
    "operations": ["operations", "latest", "operations.coders=3"],
    "gate_promote": ["gate", "promote", "latest"],
}


@pytest.mark.parametrize("command", READERS.values(), ids=READERS.keys())
def test_every_command_reading_a_store_refuses_one_that_is_no_database(tmp_path: Path, command: list[str]) -> None:
    uri = not_a_database(tmp_path, STORE_CONTENT["text_file"])
    refused(run(tmp_path, *command, "--tracking-uri", uri), f"tracking store '{uri}' cannot be used")


def test_a_store_that_cannot_be_opened_is_named_with_its_password_masked(tmp_path: Path) -> None:
    done = run(tmp_path, "runs", "--tracking-uri", "sqlite://coder:s3cret@host/mlflow.db")
    line = refused(done, "'sqlite://coder:***@host/mlflow.db' cannot be used")
    assert "s3cret" not in done.stdout + done.stderr, line


def test_a_job_on_a_store_under_a_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("not a folder\n")
    done = run(tmp_path, "dataset.limit=1", f"tracking.uri=sqlite:///{tmp_path}/notes/mlflow.db", f"hydra.run.dir={tmp_path}/run")
    refused(done, f"{tmp_path}/notes is a file, not a folder")
    assert not (tmp_path / "run" / "artifacts").exists()


def test_rules_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    done = run(tmp_path, "rules=/dev/zero", "dataset.limit=1", "tracking.enabled=false", f"hydra.run.dir={tmp_path}/run")
    refused(done, "/dev/zero: not a regular file")


def test_rules_validate_names_each_pack_that_is_not_a_regular_small_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "huge.yaml").write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    packs = ["/dev/zero", str(tmp_path / "fifo.yaml"), str(tmp_path), str(tmp_path / "huge.yaml")]
    done = run(tmp_path, "rules", "validate", *packs)
    assert done.returncode == 1, done.stderr  # rules validate: 1 is "a pack is invalid"
    assert done.stderr.splitlines() == [
        "FAILED /dev/zero: not a regular file (a device, pipe or socket)",
        f"FAILED {tmp_path}/fifo.yaml: not a regular file (a device, pipe or socket)",
        f"FAILED {tmp_path}: a folder, not a file",
        f"FAILED {tmp_path}/huge.yaml: 4194305 bytes, more than the 4194304 a file read whole may hold "
        "(harness.user_paths.MAX_READ_WHOLE_BYTES)",
    ]


def test_a_gate_config_that_is_a_device_is_refused(tmp_path: Path) -> None:
    done = run(tmp_path, "gate", "--candidate", "latest", "--baseline", "champion", "--config", "/dev/zero")
    refused(done, "gate config /dev/zero: not a regular file")


def read_only_folder(tmp_path: Path) -> Path:
    """An existing folder this process cannot write into: chmod 555 for a user, ``/proc`` for root (which ignores modes)."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def unwritable_folders(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "notes").write_text("not a folder\n")
    return {"under_a_file": tmp_path / "notes" / "run", "under_proc": Path("/proc/harness-run"),
            "existing_read_only": read_only_folder(tmp_path)}


@pytest.mark.parametrize("where", ["under_a_file", "under_proc", "existing_read_only"])
def test_a_job_output_folder_that_cannot_be_written_is_one_error_line(tmp_path: Path, where: str) -> None:
    folder = unwritable_folders(tmp_path)[where]
    done = run(tmp_path, "dataset.limit=1", "tracking.enabled=false", f"hydra.run.dir={folder}")
    refused(done, "the output folder cannot be created or written", str(folder), "set hydra.run.dir")


def test_a_sweep_folder_that_cannot_be_written_is_one_error_line(tmp_path: Path) -> None:
    folder = unwritable_folders(tmp_path)["under_a_file"]
    done = run(tmp_path, "run", "-m", "dataset.limit=1", "tracking.enabled=false", "rules=icd10cm_2026_v1,icd10cm_2026_v2",
               f"hydra.sweep.dir={folder}")
    refused(done, "the output folder cannot be created or written", str(folder), "set hydra.sweep.dir")


@pytest.mark.parametrize("where", ["under_a_file", "under_proc", "existing_read_only", "a_folder"])
def test_a_report_out_that_cannot_be_written_is_refused_before_any_run_is_read(tmp_path: Path, where: str) -> None:
    out = tmp_path if where == "a_folder" else unwritable_folders(tmp_path)[where] / "report.html"
    done = run(tmp_path, "report", "run", "latest", "--out", str(out), "--tracking-uri", f"sqlite:///{tmp_path}/none.db")
    refused(done, f"--out {out}")


@pytest.mark.parametrize("option", ["--out", "--json"])
def test_a_gate_output_that_cannot_be_written_is_refused_before_gating(tmp_path: Path, option: str) -> None:
    out = Path("/proc/harness-gate/summary")
    done = run(tmp_path, "gate", "--candidate", "latest", "--baseline", "champion", option, str(out),
               "--tracking-uri", f"sqlite:///{tmp_path}/none.db")
    refused(done, f"gate {option} {out}")


def test_a_merge_output_dir_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    folder = unwritable_folders(tmp_path)["under_a_file"]
    done = run(tmp_path, "merge", "latest", "--output-dir", str(folder), "--tracking-uri", f"sqlite:///{tmp_path}/none.db")
    refused(done, f"--output-dir {folder}")


@pytest.mark.parametrize("path", ["/dev/zero", "/proc/self/mem"])
def test_an_audit_file_that_cannot_be_read_exits_2(tmp_path: Path, path: str) -> None:
    refused(run(tmp_path, "audit", "verify", path), path)


def test_evaluate_refuses_an_output_dir_it_cannot_write_before_reading_charts(tmp_path: Path) -> None:
    import harness
    from harness.user_paths import UnwritableError

    (tmp_path / "notes").write_text("not a folder\n")
    expected = f"output_dir {tmp_path}/notes/run cannot be created: {tmp_path}/notes is a file, not a folder"
    with pytest.raises(UnwritableError, match=re.escape(expected)):
        harness.evaluate(["dataset.limit=1", "tracking.enabled=false"], output_dir=tmp_path / "notes" / "run")


def test_a_gate_that_fails_on_a_bug_exits_4_with_its_traceback(capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.cli import gate
    from harness.tracking import gate_runs

    def broken(*args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(gate_runs, "load_runs", broken)
    assert gate.main(["--candidate", "latest", "--baseline", "champion"]) == gate.GATE_FAILED == 4
    said = capsys.readouterr().err
    assert "Traceback" in said and "KeyError: 'a bug'" in said and "no verdict (exit 4)" in said
