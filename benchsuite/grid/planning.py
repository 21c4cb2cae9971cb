"""Expands a selection into a Grid: task names, method pipelines (baseline first) and backend configurations,
validated against the registries; a suite when nothing is named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchsuite.discovery.loader import Plugins
from benchsuite.errors import UsageError
from benchsuite.grid.options import SUITES, RunOptions
from benchsuite.sdk.interfaces import Backend
from benchsuite.sdk.params import Spec, format_spec, parse_spec, parse_values

BASELINE = "baseline"


@dataclass(frozen=True)
class Config:
    """A method or backend name with its resolved parameters (hashable, in declaration order)."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, params: Mapping[str, Any]) -> Config:
        return cls(name, tuple(params.items()))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def spec(self) -> str:
        return format_spec(self.name, self.kwargs)


@dataclass(frozen=True)
class Pipeline:
    """One method configuration, or several applied in order (``a:x=1 > b``)."""

    steps: tuple[Config, ...]

    @property
    def spec(self) -> str:
        return " > ".join(step.spec for step in self.steps)

    @property
    def is_baseline(self) -> bool:
        return self.steps == (Config(BASELINE),)


@dataclass(frozen=True)
class Grid:
    """A validated selection: task names, method pipelines (baseline first), backend configurations."""

    tasks: tuple[str, ...]
    methods: tuple[Pipeline, ...]
    backends: tuple[Config, ...]

    def __len__(self) -> int:
        return len(self.tasks) * len(self.methods) * len(self.backends)


def _spec(item: str | Spec) -> Spec:
    return item if isinstance(item, Spec) else parse_spec(item)


def parse_pipeline(plugins: Plugins, text: str) -> Pipeline:
    """``"magnitude-pruning:sparsity=0.5 > dynamic-int8"`` -> a validated Pipeline."""
    steps = []
    for part in text.split(">"):
        if not part.strip():
            raise UsageError(f"empty step in method pipeline {text!r}; write a:k=v > b")
        spec = parse_spec(part)
        cls = plugins.methods.get(spec.name)
        steps.append(Config.of(spec.name, parse_values(spec.name, cls.parameters, spec.raw_params)))
    return Pipeline(tuple(steps))


def build_grid(plugins: Plugins, tasks: Sequence[str] = (), methods: Sequence[str] = (),
               backends: Sequence[str | Spec] = (), suite: str = "standard") -> Grid:
    """Validate a selection; empty method/task/backend selections mean the suite. Raises UsageError on bad input.

    :param suite: ``standard`` runs each built-in method's headline configurations; ``full`` adds its sweep.
    """
    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}; use one of {', '.join(SUITES)}")
    task_names = tuple(dict.fromkeys(tasks)) or tuple(e.name for e in plugins.tasks
                                                      if e.obj.standard_suite or suite == "full")
    for name in task_names:
        plugins.tasks.entry(name)
    if not task_names:
        raise UsageError("no tasks are registered; check `benchsuite plugins` for plugins that failed to load")

    pipelines: list[Pipeline] = []
    if methods:
        pipelines = [parse_pipeline(plugins, text) for text in methods]
    else:
        for entry in plugins.methods:
            if plugins.infos[entry.plugin].source == "builtin":
                configs = list(entry.obj.standard_configs) if entry.obj.standard_suite or suite == "full" else []
                if suite == "full":
                    configs += list(entry.obj.sweep_configs)
                for overrides in configs:
                    pipelines.append(Pipeline((Config.of(entry.name, entry.obj(**overrides).params),)))
    if BASELINE not in plugins.methods:
        raise UsageError("the baseline method is not registered (is builtin.methods.baseline blocked?)")
    baseline = Pipeline((Config(BASELINE),))
    pipelines = [baseline] + [p for p in dict.fromkeys(pipelines) if p != baseline]

    backend_configs = []
    for spec in map(_spec, backends):
        cls = plugins.backends.get(spec.name)
        backend_configs.append(Config.of(spec.name, parse_values(spec.name, cls.parameters, spec.raw_params)))
    if not backends:  # the suite: every backend that is available here
        backend_configs = [Config.of(e.name, b.params) for e in plugins.backends
                           if (b := _available_backend(e.obj)) is not None]
    if not backend_configs:
        raise UsageError("no backend is available; check `benchsuite plugins --verbose`")
    return Grid(task_names, tuple(pipelines), tuple(dict.fromkeys(backend_configs)))


def _available_backend(cls: type[Backend]) -> Backend | None:
    try:
        backend = cls()
        return backend if backend.availability().ok else None
    except Exception:
        return None


def seeds_of(plugins: Plugins, pipeline: Pipeline, options: RunOptions) -> tuple[int, ...]:
    deterministic = all(plugins.methods.get(step.name).deterministic for step in pipeline.steps)
    return options.seeds[:1] if deterministic else options.seeds


def cell_count(plugins: Plugins, grid: Grid, options: RunOptions) -> int:
    """Rows the grid will produce: methods that are not deterministic run once per seed."""
    runs = sum(len(seeds_of(plugins, pipeline, options)) for pipeline in grid.methods)
    return len(grid.tasks) * runs * len(grid.backends)
