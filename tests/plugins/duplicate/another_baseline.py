"""A plugin that registers a method name the built-ins already use."""

from benchsuite import CompressionMethod, hookimpl


class AnotherBaseline(CompressionMethod):
    name = "baseline"

    def apply(self, model, context):
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(AnotherBaseline)
