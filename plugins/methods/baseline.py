"""baseline: the uncompressed reference model, measured like every other method."""

from benchsuite import CompressionMethod, hookimpl


class Baseline(CompressionMethod):
    name = "baseline"
    deterministic = True
    family = "other"

    def apply(self, model, context):
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(Baseline)
