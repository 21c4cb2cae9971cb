"""The three things a plugin can provide: a CompressionMethod, a Backend, a Task (and the types they share)."""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from benchsuite.errors import ParamError
from benchsuite.sdk.params import Param, resolve_params
from benchsuite.sdk.scoring import Generation, Metric

if TYPE_CHECKING:  # torch is imported lazily so that `import benchsuite` stays cheap
    import torch
    from torch import nn

FAMILIES = ("quantization", "pruning", "distillation", "factorization", "architecture", "dynamic", "other")
#: ``causal-lm``: language models that generate text (perplexity; timed as generation, see `Generation`)
MODALITIES = ("vision", "nlp", "causal-lm")
#: arithmetic a compressed model may need beyond fp32 (`CompressionMethod.kernels`), which a backend may lack
KERNELS = {
    "fp16": "IEEE half-precision arithmetic",
    "bf16": "bfloat16 arithmetic",
    "int8-matmul": "int8 x int8 matrix multiplication (e.g. torch._int_mm)",
}

#: Model inputs are a tuple of tensors, called as ``model(*inputs)``; a batch is ``(inputs, labels)``.
Inputs = tuple["torch.Tensor", ...]
Batch = tuple[Inputs, "torch.Tensor"]


def wall_clock_call(fn: Callable[..., object], args: Inputs, synchronize: Callable[[], None] = lambda: None) -> int:
    """Nanoseconds one call of ``fn(*args)`` takes by `time.perf_counter_ns`, queued device work included."""
    t0 = time.perf_counter_ns()
    fn(*args)
    synchronize()
    return time.perf_counter_ns() - t0


@dataclass(frozen=True)
class TaskInfo:
    """What a method may know about the task it compresses for."""

    name: str
    modality: str
    version: str
    metric: str
    higher_is_better: bool
    num_classes: int
    batch_size: int
    #: a learning rate that suits fine-tuning this task's model (methods may use it as their default)
    finetune_lr: float = 1e-4
    #: fine-tuning must keep the batch-norm statistics the model came with (pass it to `benchsuite.sdk.training.train`):
    #: the training data is too narrow to re-estimate them (the ImageNet tasks train on crops of 14 photos)
    freeze_batchnorm: bool = False
    #: how a generative task is timed (None: one forward pass of a batch)
    generation: Generation | None = None


class _Configurable:
    """Shared by methods and backends: typed parameters resolved at construction."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params: Mapping[str, Any] = MappingProxyType(resolve_params(self.name, self.parameters, params))


class CompressionMethod(_Configurable, ABC):
    """A model-compression method.

    Subclasses set the class attributes and implement `apply`. Parameters are declared as `Param`s and
    arrive validated, with defaults filled in, in ``self.params``.
    """

    #: one of FAMILIES
    family: ClassVar[str] = "other"
    #: modalities this method supports; others become `skipped` rows
    modalities: ClassVar[tuple[str, ...]] = MODALITIES
    #: the headline configurations the standard suite runs (each a dict of parameter overrides)
    standard_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({},)
    #: further documented configurations that `--suite full` adds (a sweep: accuracy-size curves)
    sweep_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ()
    #: whether the default (standard) suite includes the headline configurations; a method too costly for the
    #: suite's 20-minute budget sets False and then runs only under --suite full (every built-in method is in)
    standard_suite: ClassVar[bool] = True
    #: arithmetic beyond fp32 that the compressed model runs on (names in KERNELS, e.g. ``{"fp16"}``); a
    #: backend without native kernels for one of them skips the run (see `Backend.supports`)
    kernels: ClassVar[frozenset[str]] = frozenset()
    #: True when compressing twice gives the same model (no training, no sampled data): `--seeds` runs it once
    deterministic: ClassVar[bool] = False
    #: devices the compressed model runs on (torch.ao's quantized kernels, for one, are CPU-only)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    #: the only backends that can run the compressed model (e.g. an ONNX Runtime graph); None: any backend
    backends: ClassVar[tuple[str, ...] | None] = None
    #: True when a sample's outputs depend on the other samples of its batch (activations quantized per tensor
    #: over the whole batch, batch-norm in train mode): its rows are also scored at batch 1. A model whose
    #: outputs are found to change when samples run alone is scored at batch 1 too, declared or not
    batch_dependent: ClassVar[bool] = False

    def supports(self, task: TaskInfo) -> str | None:
        """Return None if this method can compress for `task`, else the reason it cannot."""
        if task.modality not in self.modalities:
            return f"{self.name} supports {', '.join(self.modalities)} tasks, not {task.modality}"
        return None

    def runs_on(self, backend: "Backend") -> str | None:
        """Return None if `backend` can run this method's compressed model, else the reason it cannot."""
        if self.backends is not None and backend.name not in self.backends:
            return f"{self.name} models run only on the {', '.join(self.backends)} backend"
        if backend.device.split(":")[0] not in self.devices:
            return f"{self.name} models run only on {', '.join(self.devices)}, not on {backend.device}"
        return None

    @abstractmethod
    def apply(self, model: "nn.Module", context: "MethodContext") -> "nn.Module":
        """Compress `model` (a private copy of the task's reference model) and return the result.

        :param model: the float reference model, in eval mode; the method may modify it in place.
        :param context: task info, data, the fine-tuning budget, the teacher, the seed and the device.
        :return: a model with the same call signature, ``model(*inputs) -> logits``.
        """


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here, and why not."""

    ok: bool
    reason: str = ""


class Backend(_Configurable, ABC):
    """Where and how a compressed model runs for evaluation and timing."""

    #: the torch device models are moved to
    device: ClassVar[str] = "cpu"
    #: whether the callable `prepare` returns can generate: take ``fn(input_ids, cache)`` as the model does (see
    #: `Generation`); a backend that cannot (a fixed-shape exported graph) skips generative tasks, saying why
    generates: ClassVar[bool] = False
    #: the reason shown when it cannot
    generation_unsupported: ClassVar[str] = "this backend runs one forward pass, without a KV cache"

    def availability(self) -> Availability:
        """Whether this backend can run on this machine; never raises."""
        return Availability(True)

    def settings(self) -> dict[str, Any]:
        """Settings in force, recorded with each result (e.g. ``{"threads": 2}``)."""
        return {}

    def supports(self, kernels: frozenset[str]) -> str | None:
        """Return None if this backend runs models that need `kernels` (see KERNELS) natively here, else why not.

        Asked before compressing; a refusal becomes a `skipped` row with the reason.
        """
        return None

    @abstractmethod
    def prepare(self, model: "nn.Module", example_inputs: Inputs) -> Callable[..., "torch.Tensor"]:
        """Make `model` ready for inference and return the callable that runs it: ``fn(*inputs) -> logits``."""

    def synchronize(self) -> None:
        """Wait for queued work to finish (a no-op for synchronous backends)."""

    def timed_call(self, fn: Callable[..., "torch.Tensor"], args: Inputs) -> int:
        """Run ``fn(*args)`` once and return how long it took in nanoseconds (default: wall clock + synchronize)."""
        return wall_clock_call(fn, args, self.synchronize)

    def peak_memory_bytes(self, model: "nn.Module", fn: Callable[..., "torch.Tensor"], inputs: Inputs) -> int | None:
        """Peak memory one call of `fn(*inputs)` needs, the model's resident weights included."""
        from benchsuite.sdk.memory import peak_cpu_memory_bytes

        return peak_cpu_memory_bytes(model, fn, inputs)


class Task(ABC):
    """A standardized benchmark: data, a reference model, a metric.

    A task builds its reference model once per machine into `cache_dir` and reuses it. Changing the data,
    the split, the preprocessing or the reference recipe must change `version`.
    """

    name: ClassVar[str]
    modality: ClassVar[str]
    version: ClassVar[str]
    metric: ClassVar[Metric]
    #: secondary metrics computed on the same evaluation (recorded in `extra_scores`, never ranked on)
    extra_metrics: ClassVar[tuple[Metric, ...]] = ()
    num_classes: ClassVar[int]
    #: whether a run that names no task includes this one (`--suite full` and `--task NAME` always do); costly
    #: tasks set False to keep the default suite within its time budget
    standard_suite: ClassVar[bool] = True
    #: the batch size latency and throughput are measured at (besides batch 1)
    batch_size: ClassVar[int] = 32
    #: learning rate suited to fine-tuning the reference model
    finetune_lr: ClassVar[float] = 1e-4
    #: the batch size methods fine-tune and calibrate with unless they choose their own (`MethodContext.batch_size`)
    finetune_batch_size: ClassVar[int] = 32
    #: fine-tuning keeps the reference's batch-norm statistics (see `TaskInfo.freeze_batchnorm`)
    freeze_batchnorm: ClassVar[bool] = False
    description: ClassVar[str] = ""
    # The task card (`benchsuite tasks show NAME`): where the data and the reference come from, under which
    # license, and what is done to the inputs. Changing any of them must change `version`.
    data_source: ClassVar[str] = ""
    data_license: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    preprocessing: ClassVar[str] = ""
    #: training-time augmentation of `train_batches` (empty: none)
    augmentation: ClassVar[str] = ""
    #: set by generative tasks (modality ``causal-lm``): they are timed as generation (`Generation`), at batch 1
    #: and at `batch_size`, on `prompts`; None: timed as one forward pass of `latency_inputs`
    generation: ClassVar[Generation | None] = None

    def availability(self) -> Availability:
        """Whether this task can run here (e.g. a hub task without a network), and why not; never raises."""
        return Availability(True)

    def split_sizes(self) -> dict[str, int]:
        """Samples per split, for the task card (default: the evaluation split only)."""
        return {"eval": self.eval_size}

    def checksums(self) -> dict[str, str]:
        """sha256 of the data and weight files the task reads, for the task card."""
        return {}

    @property
    def info(self) -> TaskInfo:
        return TaskInfo(self.name, self.modality, self.version, self.metric.name, self.metric.higher_is_better,
                        self.num_classes, self.batch_size, self.finetune_lr, self.freeze_batchnorm, self.generation)

    @abstractmethod
    def reference_model(self, cache_dir: Path) -> "nn.Module":
        """The uncompressed reference model in eval mode, built (trained) on first use and cached."""

    @abstractmethod
    def eval_batches(self, batch_size: int, limit: int | None = None) -> Iterator[Batch]:
        """The evaluation split, in a fixed order; `limit` caps the number of samples (quick mode)."""

    @abstractmethod
    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        """An endless, seeded, shuffled stream of training batches (fine-tuning and calibration)."""

    @abstractmethod
    def example_inputs(self, batch_size: int) -> Inputs:
        """Fixed real inputs of `batch_size` samples, typical of the task (used for FLOPs and export)."""

    def latency_inputs(self, batch_size: int) -> list[Inputs]:
        """Real evaluation inputs that timed calls cycle through (the cost of dynamic models depends on them).

        Every method of a task is timed on the same list. Default: the first evaluation batches (8 batches, or
        64 single samples at batch 1).
        """
        batches = []
        for inputs, _ in self.eval_batches(batch_size, limit=max(8 * batch_size, 64)):
            if len(inputs[0]) == batch_size:
                batches.append(inputs)
        return batches or [self.example_inputs(batch_size)]

    def prompts(self, batch_size: int) -> list[Inputs]:
        """A generative task's fixed real prompts (`generation` set): a list of ``(input_ids,)`` of shape
        ``[batch_size, generation.prompt_tokens]``, the same for every method; timed generations cycle through
        them. Default: the first `prompt_tokens` tokens of the first evaluation windows."""
        if self.generation is None:
            raise NotImplementedError(f"{self.name} is not a generative task (no `generation`)")
        length = self.generation.prompt_tokens
        prompts = []
        for inputs, _ in self.eval_batches(batch_size, limit=max(8 * batch_size, 8)):
            if len(inputs[0]) == batch_size and inputs[0].shape[1] >= length:
                prompts.append((inputs[0][:, :length].contiguous(),))
        if not prompts:
            raise ValueError(f"{self.name}: no evaluation window has the {length} tokens a prompt needs; lower "
                             "generation.prompt_tokens")
        return prompts

    @property
    def eval_size(self) -> int:
        """Number of samples in the evaluation split."""
        return sum(len(labels) for _, labels in self.eval_batches(256))


class BudgetExceeded(ParamError):
    """A method asked for more fine-tuning steps or calibration samples than the run's budget."""


class _NoLabels:
    """The labels of the deprecated `calibration_batches`: calibration data has none, so any use raises."""

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("calibration data carries no labels: train on labelled data through context.training_batches "
                        "(within the fine-tuning budget) and calibrate with context.calibration_inputs")

    __getattr__ = __getitem__ = __iter__ = __len__ = __bool__ = __index__ = __float__ = __array__ = _refuse
    __torch_function__ = classmethod(_refuse)  # torch functions, e.g. cross_entropy(logits, labels)


@dataclass
class CompressionCost:
    """What compressing cost; the core counts it, plugins never report it themselves."""

    finetune_steps: int = 0
    calibration_samples: int = 0
    stopped_by_time: bool = False
    #: seconds spent standing aside while another run on the machine was timing (the host timing lock): not counted
    #: against the fine-tuning budget nor in the compression time
    paused_seconds: float = 0.0


@dataclass(frozen=True)
class MethodContext:
    """Everything a method may use while compressing.

    Training data comes only through `training_batches` (labelled, within the fine-tuning budget) and
    `calibration_inputs` (unlabelled, within the calibration budget), which count what is used.
    """

    task: TaskInfo
    teacher: "nn.Module"
    seed: int
    device: "torch.device"
    finetune_budget_steps: int
    train_stream: Callable[[int, int], Iterator[Batch]]
    cost: CompressionCost = field(default_factory=CompressionCost)
    batch_size: int = 32
    #: set by --quick: every request for training batches is cut to this many steps
    max_steps_per_request: int | None = None
    #: wall-clock fine-tuning budget; training batches stop coming once it is spent (None: no limit)
    finetune_budget_seconds: float | None = None
    #: the most calibration samples the pipeline's steps may draw together (the closed track's; None: no limit)
    calibration_budget_samples: int | None = None
    started_at: float = field(default_factory=time.perf_counter)
    #: ``example_inputs(batch_size)``: the task's fixed example inputs, for export or shape tracing only (at most
    #: the task batch size: BudgetExceeded beyond it); `train_stream` is the host's, methods draw data through
    #: `training_batches` and `calibration_inputs`, which count it
    example_inputs: Callable[[int], Inputs] | None = None
    #: called before each batch: lets a timing phase elsewhere on the machine go first and returns the seconds it
    #: stood aside (the host passes its timing lock's; the plugin contract imports nothing from the runtime)
    yield_to_timing: Callable[[], float] = lambda: 0.0

    def seconds_left(self) -> float:
        if self.finetune_budget_seconds is None:
            return float("inf")
        return self.finetune_budget_seconds - (time.perf_counter() - self.started_at - self.cost.paused_seconds)

    def training_batches(self, steps: int, batch_size: int | None = None) -> Iterator[Batch]:
        """Yield `steps` training batches; raises BudgetExceeded past the run's fine-tuning budget.

        Fewer steps may be yielded under ``--quick`` (see `max_steps_per_request`) or when the wall-clock
        budget runs out; loop over what is yielded.
        """
        if self.max_steps_per_request is not None:
            steps = min(steps, self.max_steps_per_request)
        remaining = self.finetune_budget_steps - self.cost.finetune_steps
        if steps > remaining:
            raise BudgetExceeded(
                f"{steps} fine-tune steps asked, {remaining} left of the budget of {self.finetune_budget_steps}; "
                "lower finetune_steps or raise --finetune-budget")
        stream = self.train_stream(batch_size or self.batch_size, self.seed + self.cost.finetune_steps)
        for _ in range(steps):
            self.cost.paused_seconds += self.yield_to_timing()  # a timing phase elsewhere on the machine goes first
            if self.seconds_left() <= 0:  # the wall-clock budget is spent: stop early, the row records it
                self.cost.stopped_by_time = True
                return
            self.cost.finetune_steps += 1
            yield next(stream)

    def calibration_inputs(self, num_samples: int, batch_size: int | None = None) -> Iterator[Inputs]:
        """Yield training inputs without labels (for calibration) until `num_samples` samples were given; raises
        BudgetExceeded past the calibration budget. Each call restarts the same seeded stream and counts it all."""
        budget, used = self.calibration_budget_samples, self.cost.calibration_samples
        if budget is not None and num_samples > budget - used:
            raise BudgetExceeded(f"{num_samples} calibration samples asked, {budget - used} left of the closed "
                                 f"track's budget of {budget}; lower calibration_samples or run on --track open")
        stream = self.train_stream(batch_size or self.batch_size, self.seed + 1)
        given = 0
        while given < num_samples:
            self.cost.paused_seconds += self.yield_to_timing()
            inputs, labels = next(stream)
            take = min(len(labels), num_samples - given)
            given += take
            self.cost.calibration_samples += take
            yield tuple(t[:take] for t in inputs)

    def calibration_batches(self, num_samples: int, batch_size: int | None = None) -> Iterator[tuple[Inputs, Any]]:
        """Deprecated: `calibration_inputs`, as ``(inputs, labels)`` pairs whose labels raise TypeError when used."""
        warnings.warn("MethodContext.calibration_batches is deprecated: use calibration_inputs, which yields the "
                      "inputs alone (calibration data carries no labels)", DeprecationWarning, stacklevel=2)
        return ((inputs, _NoLabels()) for inputs in self.calibration_inputs(num_samples, batch_size))
