"""Progress bars (stderr, only on a terminal) and one log line per finished cell."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any


class Progress:
    """Progress bars (stderr, only on a terminal) and one log line per finished cell."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.grid = tqdm(total=total, desc="grid", unit="run", position=0, disable=None if enabled else True,
                         leave=True)
        self.done = 0
        self.total = total

    def cell(self, label: str, total: int) -> Any:
        return self._tqdm(total=total, desc=label, unit="sample", position=1, leave=False,
                          disable=None if self.enabled else True)

    def finished(self, row: Mapping[str, Any]) -> None:
        self.done += 1
        self.grid.update(1)
        if not self.enabled:
            return
        label = f"{row['task']} × {row['config']} × {row['backend']}"
        if row["status"] == "ok" and row.get("timed") is False:
            detail = f"{row['metric']}={row['score']:.4f} size={row['model_size_bytes'] / 1e6:.2f}MB (not timed)"
        elif row["status"] == "ok":
            detail = (f"{row['metric']}={row['score']:.4f} p50={row['latency_p50_ms']:.2f}ms "
                      f"speedup={row['realized_speedup'] if row['realized_speedup'] is not None else float('nan'):.2f}x "
                      f"size={row['model_size_bytes'] / 1e6:.2f}MB")
        else:
            detail = row["error"]
        self._tqdm.write(f"[{self.done}/{self.total}] {label}: {row['status']} {detail}", file=sys.stderr)

    def already_measured(self, label: str) -> None:
        self.done += 1
        self.grid.update(1)
        if self.enabled:
            self._tqdm.write(f"[{self.done}/{self.total}] {label}: already in the store (--force re-runs it)",
                             file=sys.stderr)

    def close(self) -> None:
        self.grid.close()
