"""A plugin that registers a method with a family outside the closed list."""

from benchsuite import CompressionMethod, hookimpl


class Weird(CompressionMethod):
    name = "weird"
    family = "magic"

    def apply(self, model, context):
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(Weird)
