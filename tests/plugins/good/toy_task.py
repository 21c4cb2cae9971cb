"""A tiny, fast task for tests: 3 Gaussian blobs in 8 dimensions, a 2-layer MLP."""

import torch
from torch import nn

from benchsuite import Metric, Task, hookimpl
from benchsuite.sdk.metrics import accuracy
from benchsuite.sdk.reference import cached_model
from benchsuite.sdk.training import train


def blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[2.0] * 8, [-2.0] * 8, [2.0, -2.0] * 4])
    labels = torch.randint(0, 3, (n,), generator=g)
    return centers[labels] + torch.randn(n, 8, generator=g), labels


class ToyBlobs(Task):
    name = "toy-blobs"
    modality = "vision"
    version = "1"
    metric = Metric("accuracy", True, accuracy, proportion=True)
    num_classes = 3
    batch_size = 16
    finetune_lr = 1e-2

    def __init__(self):
        self.train_x, self.train_y = blobs(512, 0)
        self.test_x, self.test_y = blobs(200, 1)

    def reference_model(self, cache_dir):
        def make():
            torch.manual_seed(0)
            return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

        return cached_model(cache_dir, "toy-blobs-v1", make,
                            lambda m: train(m, self.train_batches(32, 0), 60, 1e-2))

    def eval_batches(self, batch_size, limit=None):
        n = len(self.test_y) if limit is None else min(limit, len(self.test_y))
        for i in range(0, n, batch_size):
            yield (self.test_x[i:min(i + batch_size, n)],), self.test_y[i:min(i + batch_size, n)]

    def train_batches(self, batch_size, seed):
        g = torch.Generator().manual_seed(seed)
        while True:
            idx = torch.randint(0, len(self.train_y), (batch_size,), generator=g)
            yield (self.train_x[idx],), self.train_y[idx]

    def example_inputs(self, batch_size):
        return (self.test_x[:batch_size],)


class ToyBroken(ToyBlobs):
    """A task whose reference model cannot be built."""

    name = "toy-broken"

    def reference_model(self, cache_dir):
        raise FileNotFoundError("weights.safetensors not found")


@hookimpl
def benchsuite_register_tasks(register):
    register(ToyBlobs)
    register(ToyBroken)
