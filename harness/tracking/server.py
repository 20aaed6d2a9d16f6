"""The MLflow server for the team: ``mlflow server`` over the project's store, light settings.

    harness server                      # http://127.0.0.1:5000, store outputs/mlflow.db
    harness server --port 0             # any free port
    harness server --backend-store-uri sqlite:///path/to/mlflow.db      (--tracking-uri is the same option)
    harness server --backend-store-uri postgresql://mlflow:PASSWORD@dbhost:5432/mlflow \\
                   --artifacts-destination /srv/mlflow/artifacts

The store is a SQLite file or a database server (PostgreSQL through psycopg2). Artifacts are served:
clients upload and download them through this server (experiments it creates get ``mlflow-artifacts:/``
locations), and it keeps them under --artifacts-destination (a folder, or a URI such as s3://bucket);
by default the folder ``mlartifacts`` beside a SQLite store, else under the current directory.

A PostgreSQL store is reached before mlflow starts: one that cannot be reached stops the command at
once (exit 2) with the URI in the message. Its password is never printed and never put on mlflow's
command line (mlflow gets it through PGPASSWORD).

Binds to 127.0.0.1 unless --host says otherwise (reach it from elsewhere through an SSH tunnel, or a
reverse proxy). MLflow has no authentication of its own: another --host warns, and names the two
documented ways to add it (a reverse proxy with TLS and basic auth in front of a 127.0.0.1 server, or
``mlflow server --app-name basic-auth``). One worker by default and MLflow's job execution off: about
5 s and 0.5 GB to start instead of about 20 s and 3 GB. Runs in the foreground until Ctrl-C, which
stops the server and every process it started. A port that something else already listens on is
refused (exit 2), never mistaken for our server. Killed outright (SIGKILL), it still takes mlflow with
it: on Linux the kernel sends mlflow SIGTERM when this process dies, and mlflow stops its uvicorn
worker on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from harness.errors import HarnessError
from harness.processes import free_port, stop_process_group
from harness.tracking.mlflow_store import resolve_uri

PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal the kernel sends a process when its parent dies."""
LOOPBACK = ("127.0.0.1", "localhost", "::1")
AUTH_OPTIONS = ("MLflow has no authentication of its own: anyone who can reach this port can read, change and delete "
                "every run. For a team, keep the server on 127.0.0.1 behind a reverse proxy with TLS and basic auth "
                "(e.g. nginx auth_basic + proxy_pass http://127.0.0.1:PORT), or run MLflow's own basic-auth app "
                "(pip install 'mlflow[auth]'; mlflow server --app-name basic-auth with MLFLOW_FLASK_SERVER_SECRET_KEY "
                "and MLFLOW_AUTH_ADMIN_PASSWORD set); clients then set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD")


class PortUnavailableError(HarnessError, OSError):
    """The port asked for cannot be listened on (another service has it, or it is privileged)."""


class ServerError(HarnessError, RuntimeError):
    """mlflow did not come up, or the artifacts destination cannot be used; the message says which."""


class StoreUnreachableError(HarnessError, ConnectionError):
    """The backend store's database cannot be reached or logged into; the message names the URI, password masked."""


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise ``PortUnavailableError`` unless a server could listen on ``host``:``port`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As servers do: a port held only by closed connections (TIME_WAIT) is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortUnavailableError(f"port {port} on {host} is not available ({error.strerror}): another service "
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


# --- store URIs ---

def is_postgres(uri: str) -> bool:
    """Whether ``uri`` is a SQLAlchemy PostgreSQL URI (``postgresql://``, ``postgresql+psycopg2://``, ``postgres://``)."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    return scheme.split("+", 1)[0] in ("postgresql", "postgres")


def _credentials(uri: str) -> tuple[str, str | None, str]:
    """``uri`` without its password, the password (decoded; None when it has none), and ``uri`` with it as ``***``.

    The password may be in the user part (``user:secret@host``) or a ``password=`` query parameter."""
    if "://" not in uri:
        return uri, None, uri
    parts = urlsplit(uri)
    password = None
    bare_netloc = masked_netloc = parts.netloc
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    user, colon, secret = userinfo.partition(":")
    if at and colon:
        password = unquote(secret)
        bare_netloc, masked_netloc = f"{user}@{hostinfo}", f"{user}:***@{hostinfo}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    bare_query = masked_query = parts.query
    if any(key == "password" for key, _ in query):
        password = next(value for key, value in query if key == "password")
        bare_query = urlencode([(key, value) for key, value in query if key != "password"])
        masked_query = urlencode([(key, "***" if key == "password" else value) for key, value in query], safe="*")
    if password is None:
        return uri, None, uri
    return (urlunsplit(parts._replace(netloc=bare_netloc, query=bare_query)), password,
            urlunsplit(parts._replace(netloc=masked_netloc, query=masked_query)))


def split_password(uri: str) -> tuple[str, str | None]:
    """``uri`` without its password, and the password (decoded), or None when it has none."""
    bare, password, _ = _credentials(uri)
    return bare, password


def mask_uri(uri: str) -> str:
    """``uri`` for messages and logs: its password, if any, shown as ``***``."""
    return _credentials(uri)[2]


def _without_secret(text: str, uri: str) -> str:
    """``text`` with ``uri``'s password, decoded or as written, replaced by ``***``."""
    password = _credentials(uri)[1]
    raw = urlsplit(uri).password if "://" in uri else None
    for secret in sorted(filter(None, {password, raw}), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def with_driver(uri: str) -> str:
    """A PostgreSQL URI with psycopg2 named as its driver: SQLAlchemy 2.1 takes a bare ``postgresql://`` to mean psycopg 3,
    which the harness does not install (it installs psycopg2-binary). A URI that names a driver is kept."""
    scheme, rest = uri.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if scheme.lower() in ("postgresql", "postgres") else uri


def check_postgres(uri: str, timeout_s: float = 5.0) -> None:
    """Connect once to the PostgreSQL database of ``uri``; raise ``StoreUnreachableError`` (password masked) if it fails."""
    try:
        import psycopg2
    except ImportError:
        raise StoreUnreachableError(f"cannot check the store {mask_uri(uri)}: psycopg2 is not installed "
                                    "(pip install psycopg2-binary)") from None
    libpq_uri = "postgresql://" + uri.split("://", 1)[1]  # libpq knows neither SQLAlchemy's +driver suffix nor "postgres+..."
    try:
        psycopg2.connect(libpq_uri, connect_timeout=max(1, round(timeout_s))).close()
    except psycopg2.Error as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise StoreUnreachableError(f"cannot reach the backend store {mask_uri(uri)}: {_without_secret(reason, uri)}") from None


def artifacts_destination(given: str | None, store_uri: str) -> str:
    """Where the server keeps artifacts: ``given`` (a URI as is, a path made absolute), else ``mlartifacts`` beside a
    SQLite store, else under the current directory. Local folders are created."""
    if given and "://" in given:
        return given
    if given:
        folder = Path(given).expanduser().resolve()
    elif store_uri.startswith("sqlite:///"):
        folder = Path(store_uri[len("sqlite:///"):]).parent / "mlartifacts"
    else:
        folder = Path("mlartifacts").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder.as_uri()


def server_command(uri: str, port: int, host: str = "127.0.0.1", artifacts: str | None = None, workers: int = 1,
                   allowed_hosts: str | None = None, access_log: bool = False) -> list[str]:
    """The ``mlflow server`` command line for the store at ``uri`` (passed without a password) on ``host``:``port``; without
    ``access_log``, uvicorn's line per request (the UI polls every few seconds) stays out of the terminal."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host,
               "--port", str(port), "--workers", str(workers)]
    if not access_log:
        command += ["--uvicorn-opts", "--no-access-log"]
    if artifacts:
        command += ["--serve-artifacts", "--artifacts-destination", artifacts]
    if allowed_hosts:
        command += ["--allowed-hosts", allowed_hosts]
    return command


def _local_url(host: str, port: int) -> str:
    """A URL this machine reaches the server at (a wildcard bind answers on loopback)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


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


class _Stop(BaseException):
    """Raised by a stop signal. Not KeyboardInterrupt: one raised inside some C-level imports (mlflow's, while the first
    lines print) marks the interpreter, which then ends itself by SIGINT however the exception was handled."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def serve(uri: str, artifacts: str | None = None, host: str = "127.0.0.1", port: int = 5000, workers: int = 1,
          allowed_hosts: str | None = None, startup_timeout: float = 120.0, on_ready: Callable[[str, str], None] | None = None,
          access_log: bool = False) -> None:
    """Run the MLflow server over the store ``uri`` in the foreground until Ctrl-C or SIGTERM, then stop it and every process
    it started; it prints a line per request only under ``access_log``. ``on_ready(url, artifacts)`` is called once it
    answers. A store, port or artifacts destination that cannot be used is refused before mlflow starts (a ``HarnessError``
    naming it); ``ServerError`` when mlflow does not come up."""
    resolved, shown = resolve_uri(uri), mask_uri(uri)
    if resolved.startswith("sqlite:///") and not Path(resolved[len("sqlite:///"):]).is_file():
        raise StoreUnreachableError(f"no MLflow store at {shown} (run a job first, or pass --tracking-uri)")
    if resolved.startswith("sqlite:///"):  # a file that is no database: one line here, not mlflow's traceback from its child
        from harness.tracking.run_store import client

        client(uri)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command_uri = resolved
    if is_postgres(resolved):
        check_postgres(resolved)
        command_uri, password = split_password(with_driver(resolved))
        if password is not None:  # a command line is visible to every user of the machine (ps); the environment is not
            env["PGPASSWORD"] = password
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or a supervisor: still take the server down with us
        signal.signal(signum, _stop)
    port = port or free_port()
    check_port_free(port, {"localhost": "127.0.0.1", "": "0.0.0.0"}.get(host, host))
    try:
        destination = artifacts_destination(artifacts, resolved)
    except OSError as error:
        raise ServerError(f"artifacts destination {artifacts}: {error.strerror or error}") from None
    # Its own process group, so that a stop reaches mlflow's uvicorn worker too (stop_process_group).
    server = subprocess.Popen(server_command(command_uri, port, host, destination, workers, allowed_hosts, access_log),
                              env=env, start_new_session=True, preexec_fn=die_with_this_process())
    url = _local_url(host, port)
    try:
        wait_healthy(url, server, startup_timeout)
        if on_ready:
            on_ready(url, destination)
        server.wait()
    except _Stop:
        pass
    except (RuntimeError, TimeoutError) as error:
        raise ServerError(str(error)) from None
    finally:
        stop_process_group(server)
