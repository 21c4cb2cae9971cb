"""Toy methods for tests: one that works, one that raises, one for NLP only, one that returns the wrong type."""

import time

from torch import nn

from benchsuite import CompressionMethod, Param, Unsupported, hookimpl


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


class RefusesModel(CompressionMethod):
    name = "toy-refuses"

    def apply(self, model, context):
        raise Unsupported("toy-refuses handles no Sequential models")


class Counting(nn.Module):
    """Wraps a model and reports how many samples it saw, like a dynamic model reports its exit depth."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return self.inner(x)

    def benchsuite_metrics(self):
        seen, self.seen = self.seen, 0
        return {"mean_exit_depth": 1.5, "samples_seen": seen}


class ReportsMetrics(CompressionMethod):
    name = "toy-metrics"
    family = "dynamic"

    def apply(self, model, context):
        return Counting(model)


class SlowFinetune(CompressionMethod):
    name = "toy-slow"
    parameters = (Param("steps", int, 100, "steps to ask for", min=0),)

    def apply(self, model, context):
        for _ in context.training_batches(self.params["steps"]):
            time.sleep(0.05)
        return model


class BatchCentred(nn.Module):
    """Shifts every sample by its batch's mean input, like batch-norm left in train mode: a sample's outputs depend
    on the other samples of its batch."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x - x.mean(dim=0, keepdim=True) + 0.5 * x.mean())


class BatchStatistics(CompressionMethod):
    name = "toy-batch-stats"
    family = "other"

    def apply(self, model, context):
        return BatchCentred(model)


class DeclaresBatchDependence(CompressionMethod):
    name = "toy-declares-batch"
    family = "other"
    batch_dependent = True

    def apply(self, model, context):
        return model


class Unpicklable(CompressionMethod):
    """Halves the weights and leaves a local function on the model, as PT2E graphs and torchao's quantized tensors
    do: the model cannot be pickled, so the artifact cache cannot hold it."""

    name = "toy-unpicklable"
    family = "other"

    def apply(self, model, context):
        for p in model.parameters():
            p.data.mul_(0.5)
        model.hook = lambda x: x
        return model


@hookimpl
def benchsuite_register_methods(register):
    for cls in (HalveWeights, Explodes, NlpOnly, WrongType, GreedyFinetune, RefusesModel, ReportsMetrics,
                SlowFinetune, BatchStatistics, DeclaresBatchDependence, Unpicklable):
        register(cls)
