"""TODO docstring (cli.py)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path


def leaderboard_command(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from benchsuite.sdk.paths import store_dir

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
