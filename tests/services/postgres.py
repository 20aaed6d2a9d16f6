"""A throw-away PostgreSQL 15 cluster for tests, and ``harness server`` on it.

``PostgresCluster.start()`` runs Debian's ``initdb`` in a fresh folder under the temp dir (as the
``postgres`` user when run as root: ``initdb`` refuses root), starts it with ``pg_ctl -w`` on a free
port, listening on 127.0.0.1 only and with its socket in that folder, sets a password for TCP logins
and creates the database ``mlflow``. ``stop()`` stops it (``pg_ctl -m fast``) and removes the folder.
Two clusters never share a port or a folder, so pytest-xdist workers can each start one.

``HarnessServer.start(uri, artifacts)`` runs the real ``harness server`` command over a store on a free
port, in its own process group, and returns once it prints that it serves; ``stop()`` stops the group.

    with PostgresCluster.start() as pg, HarnessServer.start(pg.uri, folder / "artifacts") as server:
        ...  # tracking.uri=server.url
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from waiting import wait_for

PG_BIN = Path(os.environ.get("HARNESS_PG_BIN", "/usr/lib/postgresql/15/bin"))
PROGRAMS = ("initdb", "pg_ctl", "postgres")
PASSWORD = "t3st:p@ss/word"
"""Set for the ``postgres`` user; characters that must be percent-encoded in a URI, on purpose."""
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def missing_programs() -> list[str]:
    """The PostgreSQL 15 programs this machine lacks (Debian: ``apt-get install postgresql``)."""
    return [name for name in PROGRAMS if not (PG_BIN / name).is_file()]


def _free_port() -> int:
    from harness.processes import free_port

    return free_port()


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when this process is root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresCluster:
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def uri(self) -> str:
        """The SQLAlchemy URI of the ``mlflow`` database, password included (percent-encoded)."""
        from urllib.parse import quote

        return f"postgresql://postgres:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/mlflow"

    @classmethod
    def start(cls, database: str = "mlflow", attempts: int = 3) -> PostgresCluster:
        folder = Path(tempfile.mkdtemp(prefix="harness-pg-"))  # not under pytest's tmp: that is private to root
        try:
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres", "postgres")
            (folder / "pwfile").write_text(PASSWORD + "\n")
            if os.geteuid() == 0:
                shutil.chown(folder / "pwfile", "postgres", "postgres")
            _run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "--no-sync",
                               "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={folder / 'pwfile'}"]))
            for attempt in range(attempts):  # a free port can be taken between the probe and the start
                cluster = cls(folder, _free_port())
                try:
                    cluster._pg_ctl("start", "-w", "-t", "60", "-l", str(folder / "postgres.log"),
                                    "-o", f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1")
                    break
                except subprocess.CalledProcessError:
                    if attempt == attempts - 1:
                        raise
            cluster.create_database(database)
            return cluster
        except BaseException:
            if (folder / "data" / "postmaster.pid").exists():
                subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"]),
                               capture_output=True, timeout=60)
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _pg_ctl(self, *args: str) -> None:
        _run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]))

    def create_database(self, name: str) -> None:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", password=PASSWORD, dbname="postgres",
                                      connect_timeout=10)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'create database "{name}"')
        finally:
            connection.close()

    def log(self) -> str:
        path = self.folder / "postgres.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command, result.stdout, result.stderr)


@dataclass
class HarnessServer:
    """``harness server`` (the real command) on a free port of 127.0.0.1."""

    process: subprocess.Popen
    url: str
    log_path: Path
    own_log: bool = False

    @classmethod
    def start(cls, uri: str, artifacts: Path | str, *extra: str, timeout_s: float = 180.0, log: Path | None = None,
              ) -> HarnessServer:
        from harness.processes import free_port

        port = free_port()
        log_path = log or Path(tempfile.mkstemp(prefix="harness-server-", suffix=".log")[1])
        own_log = log is None
        with open(log_path, "w") as handle:
            process = subprocess.Popen([sys.executable, "-m", "harness", "server", "--backend-store-uri", uri,
                                        "--artifacts-destination", str(artifacts), "--port", str(port), *extra],
                                       cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT, text=True,
                                       start_new_session=True, env=os.environ.copy())
        server = cls(process, f"http://127.0.0.1:{port}", log_path, own_log)
        try:
            wait_for(lambda: "MLflow UI: " in server.log() or process.poll() is not None, timeout_s,
                     "the harness server to serve (or exit)", every=0.2)
            if process.poll() is not None:
                raise RuntimeError(f"it exited with status {process.returncode}")
        except (TimeoutError, RuntimeError) as error:
            text = server.log()
            server.stop()
            raise RuntimeError(f"harness server did not start ({error}):\n{text[-3000:]}") from error
        return server

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        from harness.processes import stop_process_group

        try:
            stop_process_group(self.process)
        finally:
            if self.own_log:
                self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> HarnessServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
