"""The two tracks a configuration is measured on, and the closed track's shared fine-tuning budget.

Part of the plugin contract (a method sees its budget through `MethodContext`); imports nothing.
"""

from __future__ import annotations

#: ``closed``: calibration plus at most the shared fine-tuning budget; ``open``: any budget
TRACKS = ("closed", "open")
#: the shared fine-tuning budget of the closed track, the same for every method
CLOSED_BUDGET_STEPS = 500
CLOSED_BUDGET_SECONDS = 900.0
