"""The two tracks a configuration is measured on, and the closed track's shared budget (fine-tuning and
calibration).

Part of the plugin contract (a method sees its budget through `MethodContext`); imports nothing.
"""

from __future__ import annotations

#: ``closed``: at most the shared calibration and fine-tuning budget; ``open``: any budget
TRACKS = ("closed", "open")
#: the shared fine-tuning budget of the closed track, the same for every method
CLOSED_BUDGET_STEPS = 500
CLOSED_BUDGET_SECONDS = 900.0
#: the closed track's calibration budget: unlabelled training samples, all pipeline steps together. The
#: post-training quantization literature calibrates on 1,024 unlabelled images (AdaRound, BRECQ, QDrop); it
#: holds static-int8's 512 twice over, so a pipeline (structured-pruning's tracing sample, then static-int8)
#: fits too
CLOSED_BUDGET_CALIBRATION_SAMPLES = 1024
