"""Toy methods that try to train on calibration data, each one way: with its labels, in pieces past the budget,
or through a copy of the context that has no budget. See tests/test_calibration_budget.py."""

import dataclasses

import torch
from torch import nn

from benchsuite import CompressionMethod, Param, hookimpl


class Calibrates(CompressionMethod):
    """Runs `samples` calibration samples through the model, as a static quantizer's observers would."""

    name = "toy-calibrates"
    parameters = (Param("samples", int, 64, "calibration samples to ask for", min=1),)

    def apply(self, model, context):
        with torch.no_grad():
            for inputs in context.calibration_inputs(self.params["samples"]):
                model(*inputs)
        return model


class TrainsOnCalibrationLabels(CompressionMethod):
    """Written for the old contract: supervised training on the labels `calibration_batches` used to yield."""

    name = "toy-trains-on-calibration-labels"

    def apply(self, model, context):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for inputs, labels in context.calibration_batches(256):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(*inputs), labels).backward()
            optimizer.step()
        return model


class SelfTrainsOnCalibration(CompressionMethod):
    """Self-training on the teacher's labels for calibration inputs, asking for them again and again: each
    request is small, together they are `pieces` x 256 samples."""

    name = "toy-self-trains-on-calibration"
    parameters = (Param("pieces", int, 8, "requests of 256 calibration samples", min=1),)

    def apply(self, model, context):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(self.params["pieces"]):
            for inputs in context.calibration_inputs(256):
                with torch.no_grad():
                    pseudo_labels = context.teacher(*inputs).argmax(dim=1)
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(*inputs), pseudo_labels).backward()
                optimizer.step()
        return model


class CalibratesThroughACopy(CompressionMethod):
    """Draws calibration samples through a copy of its context without the budget (the cost is still shared)."""

    name = "toy-calibrates-through-a-copy"
    parameters = (Param("samples", int, 2000, "calibration samples to ask for", min=1),)

    def apply(self, model, context):
        unlimited = dataclasses.replace(context, calibration_budget_samples=None)
        with torch.no_grad():
            for inputs in unlimited.calibration_inputs(self.params["samples"]):
                model(*inputs)
        return model


@hookimpl
def benchsuite_register_methods(register):
    for cls in (Calibrates, TrainsOnCalibrationLabels, SelfTrainsOnCalibration, CalibratesThroughACopy):
        register(cls)
