"""Runs a grid: plans each cell (rows decided without running: already stored, skipped, failed set-up), runs the
others on an executor, and emits every row as soon as it is final, each task's baseline first.

Each task's baseline is measured on every backend in the same run, so that every row carries its own
baseline score, latency and size. A failure in one cell becomes a `failed` row; the grid carries on.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchsuite.discovery.loader import Plugins
from benchsuite.execution.executors import Executor, Finished, LocalExecutor, Work
from benchsuite.execution.hostlock import busy
from benchsuite.errors import one_line
from benchsuite.execution.job import CellJob, Outcome
from benchsuite.grid.options import RunOptions
from benchsuite.grid.planning import BASELINE, Config, Grid, Pipeline, cell_count, seeds_of
from benchsuite.grid.progress import Progress
from benchsuite.results.keys import run_keys
from benchsuite.results.rows import Baseline, RowBuilder, joined
from benchsuite.results.schema import COL
from benchsuite.results.store import ResultStore
from benchsuite.sdk.interfaces import Availability, Backend, CompressionMethod, Task
from benchsuite.sdk.params import params_json



#: the folder beside the results files where failed, timed-out and crashed runs leave their traceback
TRACEBACKS = "tracebacks"


def run_grid(plugins: Plugins, grid: Grid, options: RunOptions = RunOptions(),
             store: ResultStore | None = None, progress: bool = True,
             on_row: Callable[[dict[str, Any]], None] | None = None,
             executor: Executor | None = None) -> list[dict[str, Any]]:
    """Run every cell of `grid` on `executor` (default: here, one after another); append each finished row to
    `store` as soon as its cell finishes. Returns the rows."""
    run_id = uuid.uuid4().hex[:12]
    bars = Progress(cell_count(plugins, grid, options), enabled=progress)
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        # checking and writing a row is this process's heaviest work during a grid: not beside a timing phase
        # (on a LocalCluster the cells time on this machine while the client writes the rows of others)
        with busy():
            rows.append(row)
            if store is not None:
                store.append([row], validate=False)  # RowBuilder validated it
        bars.finished(row)
        if on_row is not None:
            on_row(row)

    backends: list[tuple[Config, Backend | None, Availability]] = []
    for config in grid.backends:
        try:
            backend = plugins.backends.get(config.name)(**config.kwargs)
            backends.append((config, backend, backend.availability()))
        except Exception as exc:
            backends.append((config, None, Availability(False, one_line(exc))))

    own = executor is None
    executor = executor or LocalExecutor(options.limits, options.isolate, plugins, bars.cell)
    try:
        done = frozenset() if options.force or store is None else frozenset(
            store.done_keys(timed_only=options.timed))
        session = _Session(plugins, options, run_id, bars, emit, backends, done, store, executor.name,
                           dict(executor.machine()))
        cells: list[_Cell] = []
        for task_name in grid.tasks:
            state = _TaskState(plugins.tasks.get(task_name), baselines={c: Baseline() for c, _, _ in backends})
            try:
                state.task = state.task()
                available = state.task.availability()
                if not available.ok:
                    state.unavailable = f"task {task_name} unavailable: {available.reason}"
            except Exception as exc:
                state.setup_error = f"task {task_name} could not be set up: {one_line(exc)}"
            for pipeline in grid.methods:
                for seed in seeds_of(plugins, pipeline, options):
                    cells.append(_plan_cell(session, state, pipeline, seed))
        _run_cells(session, cells, executor)
    finally:
        bars.close()
        if own:
            executor.close()
    return rows


@dataclass(frozen=True)
class _Session:
    """What every cell of one `run_grid` shares."""

    plugins: Plugins
    options: RunOptions
    run_id: str
    bars: Progress
    emit: Callable[[dict[str, Any]], None]
    backends: Sequence[tuple[Config, Backend | None, Availability]]
    #: run keys (store.run_key) already measured in the store: not run again unless options.force
    done: frozenset[str] = frozenset()
    store: ResultStore | None = None
    executor: str = "local"
    #: hardware and software columns of the machines the executor runs cells on
    machine: Mapping[str, Any] = field(default_factory=dict)
    #: what the run reads once (the store's baseline rows)
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass
class _TaskState:
    """One task of the grid: its reference model (or why it has none) and its baselines per backend."""

    task: Any
    reference: Any = None
    setup_error: str | None = None
    #: why the task cannot run here (e.g. a hub task without a network): its rows are skipped
    unavailable: str | None = None
    baselines: dict[Config, Baseline] = field(default_factory=dict)
    #: the task's baseline cell has not finished yet: its other cells' rows wait for it
    baseline_pending: bool = False


@dataclass
class _Cell:
    """One (task, method configuration, seed): rows decided without running (skipped, failed, None where a
    backend will measure) and the backends that will."""

    state: _TaskState
    pipeline: Pipeline
    seed: int
    builder: RowBuilder
    rows: list[dict[str, Any] | None]
    runnable: list[tuple[Config, Backend]]


def _plan_cell(session: _Session, state: _TaskState, pipeline: Pipeline, seed: int) -> _Cell:
    """Decide each backend's row of a cell that needs no run (already stored, skipped, failed set-up)."""
    task, backends = state.task, session.backends
    methods = [session.plugins.methods.get(c.name)(**c.kwargs) for c in pipeline.steps]
    builder = RowBuilder(_identity(session, task, pipeline, methods, seed), session.machine)
    rows: list[dict[str, Any] | None] = []  # in backend order; None: measured below
    runnable: list[tuple[Config, Backend]] = []
    skip_reason = state.unavailable or next(filter(None, (m.supports(task.info) for m in methods)), None) \
        if state.setup_error is None else None
    for config, backend, available in backends:
        key = builder.key(config.name, params_json(config.kwargs))
        if key in session.done:
            session.bars.already_measured(f"{task.name} × {pipeline.spec} × {config.name}")
            if pipeline.is_baseline:
                state.baselines[config] = _stored_baseline(session, key)
            continue
        refusal = _refusal(config, backend, methods, generative=getattr(task, "generation", None) is not None)
        if state.setup_error is not None:
            rows.append(_decided(builder, config, backend, status="failed", error=state.setup_error))
        elif skip_reason is not None:
            rows.append(_decided(builder, config, backend, status="skipped", error=skip_reason))
        elif backend is None or not available.ok:
            rows.append(_decided(builder, config, backend, status="skipped",
                                error=f"backend {config.name} unavailable: {available.reason}"))
        elif refusal is not None:
            rows.append(_decided(builder, config, backend, status="skipped", error=refusal))
        else:
            rows.append(None)
            runnable.append((config, backend))
    if pipeline.is_baseline and runnable:
        state.baseline_pending = True
    return _Cell(state, pipeline, seed, builder, rows, runnable)


def _run_cells(session: _Session, cells: Sequence[_Cell], executor: Executor) -> None:
    """Run the cells that measure something on `executor`; emit every cell's rows as soon as they are final.

    Rows of cells that run nothing go out in grid order as the run passes them. A measured cell's rows need its
    task's baseline on the same backend: when another cell of the task finishes first (Dask), its rows wait."""
    order = [i for i, cell in enumerate(cells) if cell.runnable]
    jobs = [_job(session, cells[i]) for i in order]
    work = [Work(job, _label(cells[i]), 1 if cells[i].pipeline.is_baseline else 0) for i, job in zip(order, jobs)]
    static = iter(i for i, cell in enumerate(cells) if not cell.runnable)
    next_static = next(static, None)
    waiting: dict[int, list[tuple[_Cell, Finished]]] = {}

    def emit_static(upto: int) -> None:
        nonlocal next_static
        while next_static is not None and next_static < upto:
            for row in cells[next_static].rows:
                session.emit(row)
            next_static = next(static, None)

    def emit_measured(cell: _Cell, finished: Finished) -> None:
        measured = iter(_measured_rows(session, cell, finished))
        for row in cell.rows:
            session.emit(row if row is not None else next(measured))
        if cell.pipeline.is_baseline:
            cell.state.baseline_pending = False
            for held, result in waiting.pop(id(cell.state), []):
                emit_measured(held, result)

    for finished in executor.run(work):
        index = order[finished.index]
        emit_static(index)
        cell = cells[index]
        if cell.state.baseline_pending and not cell.pipeline.is_baseline:
            waiting.setdefault(id(cell.state), []).append((cell, finished))
        else:
            emit_measured(cell, finished)
    emit_static(len(cells))
    for held in waiting.values():  # a baseline that never finished (the executor stopped): emit what is left
        for cell, finished in held:
            emit_measured(cell, finished)


def _label(cell: _Cell) -> str:
    return f"{cell.state.task.name} × {cell.pipeline.spec} (seed {cell.seed})"


def _job(session: _Session, cell: _Cell) -> CellJob:
    options = session.options
    # a submission re-evaluates the artifact it saves: never from the cache
    cell_options = dataclasses.replace(options.cell_options(), cache=options.cache and not options.verify_artifact)
    # more timing processes load the cell's model from the artifact cache, each in a worker of its own
    processes = cell_options.timing_policy.processes if (
        cell_options.cache and cell_options.timed and options.isolate != "none") else 1
    return CellJob(task=cell.state.task.name, steps=tuple((c.name, c.params) for c in cell.pipeline.steps),
                   seed=cell.seed, backends=tuple((c.name, c.params) for c, _ in cell.runnable),
                   options=cell_options, timing_processes=processes, plugins_dir=session.plugins.plugins_dir,
                   plugin_environ=tuple(session.plugins.environ.items()))


def _measured_rows(session: _Session, cell: _Cell, finished: Finished) -> list[dict[str, Any]]:
    """The rows of the backends `cell` ran on, from their outcomes."""
    options, state = session.options, cell.state
    in_process = options.isolate == "none"
    limits = {} if in_process else {COL.time_limit_seconds: options.limits.time_limit_seconds,
                                    COL.memory_limit_bytes: options.limits.memory_limit_bytes}
    rows = []
    for (config, backend), outcome in zip(cell.runnable, finished.outcomes):
        traceback_file = _save_traceback(session, cell.builder.identity, config, outcome)
        common = dict(backend=config.name, backend_params=params_json(config.kwargs), device=backend.device,
                      cost=outcome.cost, limits=limits, traceback_file=traceback_file, machine=finished.machine)
        if outcome.status != "ok":
            kept = {k: v for k, v in outcome.values.items() if k in (COL.integrity, COL.artifact_sha256)}
            rows.append(cell.builder.row(status=outcome.status, error=outcome.error, measured=kept, **common))
            continue
        measured = dict(outcome.values)
        if isinstance(measured.get(COL.timing_started_at), str):  # ISO text from the worker's events
            measured[COL.timing_started_at] = pd.Timestamp(measured[COL.timing_started_at])
        if cell.pipeline.is_baseline:
            state.baselines[config] = Baseline.from_row(measured)
        rows.append(cell.builder.row(status="ok", measured=measured, baseline=state.baselines[config], **common))
    return rows


def _save_traceback(session: _Session, identity: Mapping[str, Any], config: Config, outcome: Outcome) -> str:
    """Write the outcome's traceback (or the dead worker's last output) beside the store; its relative path."""
    if outcome.status in ("ok", "skipped") or session.store is None:
        return ""
    import hashlib

    name = "-".join([identity["task"], hashlib.sha256(identity["config"].encode()).hexdigest()[:10],
                     config.name, f"seed{identity['seed']}"])
    relative = Path(TRACEBACKS) / session.run_id / (re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".txt")
    try:
        path = session.store.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{identity['task']} × {identity['config']} × {config.name} (seed {identity['seed']}): "
                        f"{outcome.status}: {outcome.error}\n\n{outcome.traceback or '(no traceback and no output)'}\n",
                        encoding="utf-8")
    except OSError:
        return ""
    return relative.as_posix()


def _stored_baseline(session: _Session, key: str) -> Baseline:
    """A baseline measured by an earlier, interrupted run of the same grid (resume): its newest ok row."""
    frame = _stored_ok_rows(session)
    if frame is None:
        return Baseline()
    frame = frame[frame["run_key"] == key]
    return Baseline() if frame.empty else Baseline.from_row(frame.sort_values("created_at").iloc[-1])


def _stored_ok_rows(session: _Session) -> pd.DataFrame | None:
    """The store's ok baseline rows with their run keys, read once per run."""
    if session.store is None:
        return None
    if "baselines" not in session.memo:
        frame = session.store.read()
        frame = frame[(frame["status"] == "ok") & (frame["method"] == BASELINE)]
        session.memo["baselines"] = frame.assign(run_key=run_keys(frame))
    return session.memo["baselines"]


def _refusal(config: Config, backend: Backend | None, methods: Sequence[CompressionMethod],
             generative: bool = False) -> str | None:
    """Why `backend` will not run the model `methods` make (device, backend, native kernels, or generation for a
    generative task), or None."""
    if backend is None:
        return None
    kernels = frozenset().union(*(m.kernels for m in methods))
    try:
        if generative and not backend.generates:
            return f"backend {config.name}: cannot time generation: {backend.generation_unsupported}"
        reason = next(filter(None, (m.runs_on(backend) for m in methods)), None)
        if reason is not None:
            return reason
        reason = backend.supports(kernels) if kernels else None
    except Exception as exc:
        reason = f"supports() failed: {one_line(exc)}"
    return f"backend {config.name}: {reason}" if reason else None


def _identity(session: _Session, task: Task | type[Task], pipeline: Pipeline,
              methods: Sequence[CompressionMethod], seed: int) -> dict[str, Any]:
    """The ``run`` columns of a cell's rows."""
    plugins, options = session.plugins, session.options
    entries = [plugins.methods.entry(m.name) for m in methods]
    dists = [plugins.dist_of(e.plugin) for e in entries]
    params = [dict(step.params) for step in pipeline.steps]
    return {
        COL.run_id: session.run_id, COL.executor: session.executor, COL.timed: options.timed,
        COL.quick: options.quick, COL.seed: seed, COL.track: options.track,
        COL.finetune_budget_steps: options.finetune_budget_steps,
        COL.finetune_budget_seconds: options.finetune_budget_seconds,
        COL.task: task.name, COL.task_version: task.version, COL.modality: task.modality,
        COL.metric: task.metric.name, COL.higher_is_better: task.metric.higher_is_better,
        COL.config: pipeline.spec, COL.method: joined([m.name for m in methods]),
        COL.method_family: joined([m.family for m in methods]),
        COL.method_version: joined([m.version for m in methods]),
        COL.params: params_json(params[0]) if len(params) == 1 else json.dumps(params, sort_keys=True),
        COL.method_plugin: joined([e.plugin for e in entries]),
        COL.method_dist: joined([d for d, _ in dists]), COL.method_dist_version: joined([v for _, v in dists]),
    }


def _decided(builder: RowBuilder, config: Config, backend: Backend | None, *, status: str, error: str) -> dict[str, Any]:
    """The row of a backend the cell does not run on (skipped, or its task could not be set up)."""
    return builder.row(config.name, params_json(config.kwargs), status=status, error=error,
                       device=backend.device if backend is not None else None)
