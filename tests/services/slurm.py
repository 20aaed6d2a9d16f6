"""A real one-node SLURM cluster for tests: munge, slurmctld and slurmd from Debian's ``slurm-wlm``.

``OneNodeCluster.start(folder)`` writes a ``slurm.conf`` for this host with every state, spool,
pid and log file under ``folder``, starts ``munged`` (unless one already answers), ``slurmctld``
and ``slurmd`` on free ports, and waits until ``sinfo`` shows the node idle. ``stop()`` stops the
daemons it started by their pids. Client commands (``sbatch``, ``squeue``, submitit) find the
cluster through ``SLURM_CONF``, which ``env()`` returns.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from waiting import wait_for

from harness.processes import free_port

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")
MUNGE_SOCKET_DIR = Path("/run/munge")


def missing_programs() -> list[str]:
    """The SLURM and munge programs this machine lacks (``apt-get install slurm-wlm munge``)."""
    return [name for name in DAEMONS if shutil.which(name) is None and not Path("/usr/sbin", name).is_file()]


def _program(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def slurm_conf(host: str, folder: Path, cpus: int, memory_mb: int, ctld_port: int, slurmd_port: int) -> str:
    """The cluster's ``slurm.conf``: one node (this host), one partition, no accounting, no cgroups."""
    return "\n".join([
        "ClusterName=harness-test",
        f"SlurmctldHost={host}",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "AuthType=auth/munge",
        "ProctrackType=proctrack/linuxproc",  # no cgroups in a container
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "SlurmUser=root",
        "ReturnToService=2",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'slurmd.log'}",
        f"NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _munge_answers() -> bool:
    try:
        credential = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=True).stdout
        decoded = subprocess.run(["unmunge"], input=credential, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return b"STATUS:          Success" in decoded.stdout or b"Success (0)" in decoded.stdout


@dataclass
class OneNodeCluster:
    folder: Path
    conf: Path
    host: str
    pids: dict[str, int] = field(default_factory=dict)
    """Daemons this cluster started (name -> pid); a munged that was already running is not ours to stop."""

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @classmethod
    def start(cls, folder: Path, timeout_s: float = 60.0) -> OneNodeCluster:
        host = socket.gethostname().split(".")[0]
        for sub in ("state", "spool"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2
        conf = folder / "slurm.conf"
        conf.write_text(slurm_conf(host, folder, os.cpu_count() or 1, memory_mb, free_port(), free_port()))
        cluster = cls(folder=folder, conf=conf, host=host)
        try:
            cluster._start_munge()
            cluster._start_daemon("slurmctld", folder / "slurmctld.pid")
            cluster._start_daemon("slurmd", folder / "slurmd.pid")
            cluster._wait_idle(timeout_s)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_munge(self) -> None:
        if _munge_answers():
            return
        MUNGE_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_SOCKET_DIR, "munge", "munge")
        pid_file = MUNGE_SOCKET_DIR / "munged.pid"
        subprocess.run([_program("munged"), "--force"], check=True, timeout=30)  # as root: --force
        self.pids["munged"] = int(pid_file.read_text())
        wait_for(_munge_answers, 15, "munged to answer (munge -n | unmunge)", every=0.2)

    def _start_daemon(self, name: str, pid_file: Path) -> None:
        subprocess.run([_program(name), "-f", str(self.conf)], check=True, timeout=30, env=self.env())
        pid = wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip(), 15, f"{name} to write its pid file",
                       detail=lambda: f"its log:\n{self._log(name)}")
        self.pids[name] = int(pid)

    def _log(self, name: str) -> str:
        log = self.folder / f"{name}.log"
        return log.read_text()[-3000:] if log.is_file() else "(no log)"

    def _wait_idle(self, timeout_s: float) -> None:
        states = [""]

        def idle() -> bool:
            answer = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env(), timeout=30)
            states.append(answer.stdout.strip())
            return states[-1] == "idle"

        wait_for(idle, timeout_s, "the node to be idle", every=0.5, detail=lambda: f"sinfo: {states[-1]!r}; slurmctld log:\n"
                 f"{self._log('slurmctld')}\nslurmd log:\n{self._log('slurmd')}")

    def stop(self) -> None:
        """Stop the daemons this cluster started, slurmd first; waits until each has exited."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                wait_for(lambda: not _alive(pid), 20, f"{name} to exit after SIGTERM")  # noqa: B023 - used at once
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A daemon we started is not our child (it forked away), so it is reaped by init; a zombie counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return status.is_file() and status.read_text().split()[2] != "Z"
