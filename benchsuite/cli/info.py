"""`benchsuite plugins`, `tasks`, `validate` and `new-plugin`: what is installed, the task cards, the timing
harness's self-check, and a plugin package to start from.
"""

from __future__ import annotations

import argparse
import sys

from benchsuite.cli.results import format_table
from benchsuite.cli.run import load
from benchsuite.errors import UsageError


def validate_command(args: argparse.Namespace) -> int:
    from benchsuite.measure.harness import AGREEMENT_TOLERANCE, check_tasks

    if args.repeats < 2:
        raise UsageError(f"--repeats got {args.repeats}; the coefficient of variation needs at least 2")
    if args.rounds < 1:
        raise UsageError(f"--rounds got {args.rounds}; give at least 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads got {args.threads}; give at least 1, or leave it out for the default")
    plugins = load(args)
    table = check_tasks(plugins, args.task or plugins.tasks.names(), args.repeats, args.quick, threads=args.threads,
                        rounds=args.rounds, echo=lambda line: print(line, flush=True))
    print(format_table(table, summarize=False))
    failed = int((~table["agrees"]).sum())
    if failed:
        print(f"benchsuite: {failed} timing(s) disagree with torch.utils.benchmark by more than "
              f"{AGREEMENT_TOLERANCE:.0%}", file=sys.stderr)
    return 1 if failed else 0


def tasks_command(args: argparse.Namespace) -> int:
    from benchsuite.discovery.taskcard import TaskCard

    plugins = load(args)
    if args.tasks_command == "show":
        from benchsuite.results.report import printable

        print(printable(TaskCard.of(plugins.tasks.get(args.name)()).text(), newlines=True))
        return 0
    for entry in plugins.tasks:
        task = entry.obj()
        available = task.availability()
        state = "available" if available.ok else f"unavailable: {available.reason}"
        _say(f"{entry.name:<28} v{task.version:<4} {task.modality:<7} {task.metric.name:<16} {state}")
    return 0


def _say(line: str) -> None:
    """Print one line that holds plugin-supplied text: control characters (newlines included) as escapes."""
    from benchsuite.results.report import printable

    print(printable(line))


def plugins_command(args: argparse.Namespace) -> int:
    from benchsuite.sdk.params import format_spec

    plugins = load(args)
    width = max(len(i.name) for i in plugins.infos.values()) if plugins.infos else 10
    for info in plugins.infos.values():
        registers = ", ".join(info.registers) or "-"
        status = "" if info.status == "loaded" else f"  [{info.status}{': ' + info.error if info.error else ''}]"
        _say(f"{info.name:<{width}}  {info.dist} {info.version}  {registers}{status}")
    if args.verbose:
        for registry in (plugins.tasks, plugins.methods, plugins.backends):
            print(f"\n{registry.kind}s:")
            for entry in registry:
                cls = entry.obj
                _say(f"  {entry.name} (v{cls.version}, from {entry.plugin}){_availability(registry.kind, cls)}")
                for p in getattr(cls, "parameters", ()):
                    _say(f"    {p.name}={p.default!r}: {p.help} [{p.accepts()}]")
                for overrides in getattr(cls, "standard_configs", ()):
                    _say(f"    standard: {format_spec(entry.name, overrides)}")
                if getattr(cls, "kernels", None):
                    _say(f"    needs native: {', '.join(sorted(cls.kernels))}")
                if registry.kind == "method":
                    _print_method_limits(cls)
    return 0


def _print_method_limits(cls: type) -> None:
    where = [f"the {', '.join(cls.backends)} backend"] if cls.backends is not None else []
    if set(cls.devices) != {"cpu", "cuda"}:
        where.append(f"device {', '.join(cls.devices)}")
    if where:
        _say(f"    runs only on: {'; '.join(where)}")
    if cls.deterministic:
        print("    deterministic: runs once, whatever --seeds says")


def _availability(kind: str, cls: type) -> str:
    if kind != "backend":
        return ""
    try:
        available = cls().availability()
    except Exception as exc:  # a backend that cannot even be constructed is unavailable, not a crash
        return f": unavailable ({type(exc).__name__}: {exc})"
    return ": available" if available.ok else f": unavailable ({available.reason})"


def new_plugin_command(args: argparse.Namespace) -> int:
    from benchsuite.discovery.scaffold import new_plugin

    made = new_plugin(args.name, args.output)
    print(f"benchsuite: wrote {made.dist} (method {made.name}, module {made.module}) in {made.folder}:")
    for path in made.files:
        print(f"  {path}")
    print(f"next: cd {made.folder} && pip install -e \".[test]\" && pytest   (then replace the method in "
          f"{made.module}.py)")
    return 0
