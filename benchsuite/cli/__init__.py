"""The command line: a thin layer over the library, one module per group of commands.

Every BenchsuiteError becomes one line on stderr and an exit code; a traceback is a bug.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from benchsuite.cli.info import new_plugin_command, plugins_command, tasks_command, validate_command
from benchsuite.cli.leaderboard import leaderboard_command
from benchsuite.cli.maintenance import cache_command, store_command
from benchsuite.cli.parser import build_parser
from benchsuite.cli.results import compare_command, results_command
from benchsuite.cli.run import run_command, submit_command, with_config
from benchsuite.errors import BenchsuiteError

COMMANDS = {"run": run_command, "results": results_command, "compare": compare_command,
            "validate": validate_command, "tasks": tasks_command, "plugins": plugins_command,
            "store": store_command, "submit": submit_command, "leaderboard": leaderboard_command,
            "cache": cache_command, "new-plugin": new_plugin_command}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run" and args.config:
            args = with_config(parser, args, sys.argv[1:] if argv is None else list(argv))
        return COMMANDS[args.command](args)
    except BenchsuiteError as exc:
        print(f"benchsuite: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("benchsuite: interrupted; rows already measured are kept in the store", file=sys.stderr)
        return 130
