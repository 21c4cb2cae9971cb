"""The `leaderboard` command: serve the Streamlit leaderboard on a host and port checked first, so that a bad port
or a busy one is one line, not Streamlit's traceback."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from benchsuite.errors import BenchsuiteError, UsageError


def check_address(host: str, port: int) -> None:
    """Raise a one-line error unless this machine can listen on `host`:`port` now: a port outside 1-65535 or a host
    that does not resolve here is a UsageError (exit 2), a port in use a BenchsuiteError (exit 1). Binds the way
    Streamlit does (SO_REUSEADDR except on Windows), so a port in TIME_WAIT counts as free, as it is for Streamlit."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port; pass a number from 1 to 65535 (default 8501)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror:
            raise UsageError(f"--host {host!r} does not resolve to an address; pass an address of this machine, "
                             "e.g. 127.0.0.1 (the default) or 0.0.0.0 for every interface") from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BenchsuiteError(f"port {port} on {host} is already in use (another leaderboard?); stop what "
                                      "holds it or pass another --port") from None
            if exc.errno == errno.EACCES:
                raise UsageError(f"port {port} needs privileges this user lacks; pass a --port above 1023") from None
            raise UsageError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; "
                             "pass another --host or --port") from None


def leaderboard_command(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from benchsuite.sdk.paths import store_dir

    check_address(args.host, args.port)
    app = Path(str(files("benchsuite_leaderboard") / "app.py"))
    store = store_dir(args.store)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.host, "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer", "--", "--store", str(store)]
    print(f"benchsuite: leaderboard on http://{args.host}:{args.port} (store {store}); Ctrl-C stops it",
          file=sys.stderr)
    env = {**os.environ, "BENCHSUITE_STORE": str(store)}
    server = subprocess.Popen(command, env=env)
    # a SIGTERM (kill, a service manager, a test's teardown) reaches only this process: pass it on, or the
    # Streamlit server is orphaned and keeps the port
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:  # a terminal's Ctrl-C reaches both; a SIGINT sent to this process alone does not
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
