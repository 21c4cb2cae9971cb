"""Toy methods for tests: one that works, one that raises, one for NLP only, one that returns the wrong type."""

from benchsuite import CompressionMethod, Param, hookimpl


class HalveWeights(CompressionMethod):
    name = "toy-halve"
    family = "other"
    parameters = (Param("factor", float, 0.5, "multiply every weight by this", min=0.0, max=1.0),)

    def apply(self, model, context):
        for p in model.parameters():
            p.data.mul_(self.params["factor"])
        return model


class Explodes(CompressionMethod):
    name = "toy-explodes"

    def apply(self, model, context):
        raise RuntimeError("boom from toy-explodes")


class NlpOnly(CompressionMethod):
    name = "toy-nlp-only"
    modalities = ("nlp",)

    def apply(self, model, context):
        return model


class WrongType(CompressionMethod):
    name = "toy-wrong-type"

    def apply(self, model, context):
        return "not a model"


class GreedyFinetune(CompressionMethod):
    name = "toy-greedy"
    parameters = (Param("steps", int, 10, "fine-tune steps to ask for", min=0),)

    def apply(self, model, context):
        for _ in context.training_batches(self.params["steps"]):
            pass
        return model


@hookimpl
def benchsuite_register_methods(register):
    for cls in (HalveWeights, Explodes, NlpOnly, WrongType, GreedyFinetune):
        register(cls)
