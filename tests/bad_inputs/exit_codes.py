"""Bad-input cases about the files and folders around the chart file: the rule pack, the store, the output folder.

Each names its input in one ``error:`` line and exits 2 before any chart is coded: a rule pack that is a device, a FIFO,
a folder or too large is never read; a store that is no database or sits under a file, and an output folder that cannot
be created, stop the job at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from bad_inputs.corpus import Case, Content, good, jsonl


def fifo_pack(folder: Path) -> Content:
    os.mkfifo(folder / "pack.yaml")
    return good("c1")


def huge_pack(folder: Path) -> Content:
    (folder / "pack.yaml").write_bytes(b"# padding\n" * 500_000)  # 5 MB of comments: over the 4 MiB read whole
    return good("c1")


NOT_A_FILE = "not a regular file (a device, pipe or socket)"

CASES: list[Case] = [
    Case("rules_pack_is_dev_zero", lambda _: good("c1"), jsonl("rules=/dev/zero"), exit_code=2,
         message=f"error: /dev/zero: {NOT_A_FILE}"),
    Case("rules_pack_is_a_fifo", fifo_pack, jsonl("rules={folder}/pack.yaml"), exit_code=2, message=f"pack.yaml: {NOT_A_FILE}"),
    Case("rules_pack_is_a_folder", lambda _: good("c1"), jsonl("rules={folder}"), exit_code=2, message=": a folder, not a file"),
    Case("rules_pack_too_large", huge_pack, jsonl("rules={folder}/pack.yaml"), exit_code=2,
         message="pack.yaml: 5000000 bytes, more than the 4194304 a file read whole may hold"),
    Case("store_is_the_chart_file", lambda _: good("c1"), jsonl("tracking.enabled=true", "tracking.uri=sqlite:///{file}"),
         exit_code=2, message="cannot be used: (sqlite3.DatabaseError) file is not a database"),
    Case("store_under_a_file", lambda _: good("c1"), jsonl("tracking.enabled=true", "tracking.uri=sqlite:///{file}/mlflow.db"),
         exit_code=2, message="charts.jsonl is a file, not a folder"),
    Case("output_folder_under_the_chart_file", lambda _: good("c1"), jsonl("hydra.run.dir={file}/run"), exit_code=2,
         message="error: the output folder cannot be created or written"),
    Case("output_folder_under_proc", lambda _: good("c1"), jsonl("hydra.run.dir=/proc/harness-run"), exit_code=2,
         message="error: the output folder cannot be created or written: /proc/harness-run"),
]
