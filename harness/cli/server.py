"""``harness server``: the MLflow server for the team over the project's store (``harness.tracking.server``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.errors import USAGE_ERROR, HarnessError


def parser() -> argparse.ArgumentParser:
    """The options of ``harness server``; its description and examples are ``harness.tracking.server``'s docstring."""
    from harness.tracking import server
    from harness.tracking.run_store import DEFAULT_URI

    made = argparse.ArgumentParser(prog="harness server", description=server.__doc__.splitlines()[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="\n".join(server.__doc__.splitlines()[2:7]))
    made.add_argument("--backend-store-uri", "--tracking-uri", dest="uri", default=DEFAULT_URI, metavar="URI",
                      help=f"MLflow store: sqlite:///path.db or postgresql://user:password@host:port/db (default {DEFAULT_URI})")
    made.add_argument("--artifacts-destination", metavar="PATH|URI",
                      help="where the server keeps the artifacts it serves (default: mlartifacts beside a SQLite store, "
                           "else under the current directory)")
    made.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; others warn: no auth)")
    made.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one")
    made.add_argument("--workers", type=int, default=1, help="mlflow server worker processes (default 1)")
    made.add_argument("--allowed-hosts", metavar="HOSTS",
                      help="Host headers mlflow accepts, comma-separated (mlflow's default: localhost and private IPs)")
    made.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the server")
    made.add_argument("--access-log", action="store_true",
                      help="print a line per HTTP request (off by default: the UI polls every few seconds)")
    return made


def main(argv: Sequence[str]) -> int:
    """Serve until Ctrl-C or SIGTERM: 0 then, 2 when the store, port or artifacts destination cannot be used or mlflow does
    not come up."""
    args = parser().parse_args(argv)
    from harness.tracking.mlflow_store import runs_pages
    from harness.tracking.server import AUTH_OPTIONS, LOOPBACK, mask_uri, serve

    def ready(url: str, artifacts: str) -> None:
        print(f"MLflow UI: {url}  (store {mask_uri(args.uri)}, artifacts {artifacts}; Ctrl-C stops it)", flush=True)
        for name, page in runs_pages(url):  # MLflow 3 opens an experiment on its GenAI pages; these open on the runs
            print(f"  runs of {name}: {page}", flush=True)

    if args.host not in LOOPBACK:
        print(f"warning: binding to {args.host}: {AUTH_OPTIONS}", file=sys.stderr, flush=True)
    try:
        serve(args.uri, args.artifacts_destination, args.host, args.port, args.workers, args.allowed_hosts,
              args.startup_timeout, on_ready=ready, access_log=args.access_log)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    return 0
