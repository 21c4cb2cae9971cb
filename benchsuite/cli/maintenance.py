"""`benchsuite cache list|prune` and `benchsuite store check|import`: looking after the artifact cache and the
results store.
"""

from __future__ import annotations

import argparse
import sys

from benchsuite.errors import UsageError


def cache_command(args: argparse.Namespace) -> int:
    from benchsuite.execution.artifacts import COMPRESSED, REFERENCE, ArtifactCache
    from benchsuite.execution.limits import parse_memory
    from benchsuite.sdk.paths import cache_dir

    cache = ArtifactCache(cache_dir())
    if args.cache_command == "list":
        entries = cache.entries()
        for e in entries:
            note = f"  [stale: {e.stale}]" if e.stale else ""
            print(f"{e.kind:<10} {e.size_bytes / 1e6:9.1f} MB  used {e.last_used:%Y-%m-%d %H:%M}  {e.key[:12]}  "
                  f"{e.description}{note}")
        total = sum(e.size_bytes for e in entries)
        print(f"{len(entries)} entries, {total / 1e6:.1f} MB in {cache.root}")
        return 0
    if args.older_than is not None and not args.older_than >= 0:
        raise UsageError(f"--older-than got {args.older_than:g}; give a number of days >= 0, e.g. 30")
    max_size = None
    if args.max_size is not None:
        try:
            max_size = parse_memory(args.max_size)
        except UsageError:
            raise UsageError(f"--max-size got {args.max_size!r}; give a size like 5GiB or 500MB") from None
    kinds = (COMPRESSED, REFERENCE) if args.reference else (COMPRESSED,)
    removed = cache.prune(kinds=kinds, everything=args.all, older_than_days=args.older_than,
                          max_size_bytes=max_size, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for e in removed:
        print(f"{verb} {e.kind} {e.key[:12]} {e.description} ({e.size_bytes / 1e6:.1f} MB)"
              + (f" [stale: {e.stale}]" if e.stale else ""))
    freed = sum(e.size_bytes for e in removed)
    print(f"{verb} {len(removed)} {'entry' if len(removed) == 1 else 'entries'}, {freed / 1e6:.1f} MB, "
          f"from {cache.root}")
    return 0


def store_command(args: argparse.Namespace) -> int:
    from benchsuite.results.check import check_store

    if args.store_command == "import":
        return store_import_command(args)

    report = check_store(args.store, fix=args.fix)
    for line in report.lines():
        print(line)
    print(f"benchsuite: {report.summary()}", file=sys.stderr)
    return 0 if report.clean else 1


def store_import_command(args: argparse.Namespace) -> int:
    from benchsuite.submissions.importing import import_bundle

    print(f"benchsuite: {import_bundle(args.bundle, args.store).summary()}", file=sys.stderr)
    return 0
