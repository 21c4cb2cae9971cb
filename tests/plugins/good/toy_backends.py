"""A backend that is never available here, to test that it is reported and skipped, not crashed on."""

from benchsuite import Availability, Backend, hookimpl


class NeverAvailable(Backend):
    name = "toy-unavailable"
    device = "npu"

    def availability(self):
        return Availability(False, "no NPU on this machine")

    def prepare(self, model, example_inputs):
        raise AssertionError("never called")


@hookimpl
def benchsuite_register_backends(register):
    register(NeverAvailable)
