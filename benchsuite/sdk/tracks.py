"""TODO docstring (runner.py)."""

from __future__ import annotations

TRACKS = ("closed", "open")


#: the shared fine-tuning budget of the closed track, the same for every method
CLOSED_BUDGET_STEPS = 500


CLOSED_BUDGET_SECONDS = 900.0
