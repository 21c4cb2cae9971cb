"""The backends on the toy task: torch-compile, onnxruntime (+ the ort-int8 method) and torch-cuda."""

import pytest
import torch
from torch import nn

from benchsuite import BenchsuiteError, Unsupported
from benchsuite.grid.options import RunOptions
from benchsuite.grid.planning import build_grid
from benchsuite.grid.orchestration import run_grid

QUICK = RunOptions(quick=True, isolate="none")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (CI has none)")


def by_cell(rows):
    return {(r["method"], r["backend"]): r for r in rows}


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """One grid over every CPU backend: baseline, a pruned model, a torch.ao int8 model and ort-int8."""
    import os

    from benchsuite.discovery.loader import load_plugins
    from conftest import GOOD

    cache = tmp_path_factory.mktemp("cache")
    saved = {k: os.environ.pop(k, None) for k in ("BENCHSUITE_CACHE", "TORCHINDUCTOR_CACHE_DIR")}
    os.environ["BENCHSUITE_CACHE"] = str(cache)
    try:
        plugins = load_plugins(GOOD, warn=lambda m: None, environ={})
        grid = build_grid(plugins, ["toy-blobs"], ["magnitude-pruning:sparsity=0.5", "dynamic-int8", "ort-int8"],
                          ["torch-cpu", "torch-compile", "onnxruntime"])
        rows = by_cell(run_grid(plugins, grid, QUICK, progress=False))
        # inductor's compiled kernels went to benchsuite's cache folder
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(cache / "inductor")
        assert any((cache / "inductor").rglob("*.py")), "no inductor cache under the benchsuite cache"
        return rows
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def test_every_backend_measures_the_same_model_to_the_same_score(rows):
    for method in ("baseline", "magnitude-pruning"):
        cpu = rows[(method, "torch-cpu")]
        for backend in ("torch-compile", "onnxruntime"):
            row = rows[(method, backend)]
            assert row["status"] == "ok", row["error"]
            assert row["score"] == pytest.approx(cpu["score"], abs=0.011)  # at most one of 200 flips
            assert row["realized_speedup"] > 0 and row["threads"] == cpu["threads"]
            assert row["model_size_bytes"] == cpu["model_size_bytes"]
    # compilation and export are recorded in their own column, and cost more than eager's first call
    assert rows[("baseline", "torch-compile")]["compile_seconds"] > rows[("baseline", "torch-cpu")]["compile_seconds"]
    assert rows[("baseline", "onnxruntime")]["compile_seconds"] > 0


def test_ort_int8_runs_only_on_onnxruntime_and_shrinks_the_model(rows):
    ort = rows[("ort-int8", "onnxruntime")]
    assert ort["status"] == "ok", ort["error"]
    base = rows[("baseline", "onnxruntime")]
    assert ort["score"] >= base["score"] - 0.03
    assert ort["params_total"] == base["params_total"] and ort["flops"] == base["flops"]
    for backend in ("torch-cpu", "torch-compile"):
        row = rows[("ort-int8", backend)]
        assert row["status"] == "skipped" and "run only on the onnxruntime backend" in row["error"]


def test_ort_int8_quantizes_weights_to_int8_and_stays_close():
    from benchsuite.sdk.interfaces import MethodContext, TaskInfo
    from benchsuite.measure.counts import serialized_size_bytes
    from benchsuite_plugins.methods.ort_int8 import OrtInt8

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10)).eval()
    x = torch.randn(64, 256)
    context = MethodContext(task=TaskInfo("t", "vision", "1", "accuracy", True, 10, 32), teacher=model, seed=0,
                            device=torch.device("cpu"), finetune_budget_steps=0, train_stream=None,
                            example_inputs=lambda n: (x[:n],))
    quantized = OrtInt8().apply(model, context)
    counts = quantized.benchsuite_counts()
    assert counts["params_total"] == sum(p.numel() for p in model.parameters())
    assert serialized_size_bytes(quantized) < 0.3 * serialized_size_bytes(model)  # int8 weights, fp32 biases
    with torch.no_grad():
        assert torch.allclose(quantized(x), model(x), atol=0.03)  # 0.08 without reduce_range on this AVX2 CPU
    with pytest.raises(Unsupported, match="ort-int8 needs the task's example inputs to export the model"):
        OrtInt8().apply(model, MethodContext(task=context.task, teacher=model, seed=0, device=context.device,
                                             finetune_budget_steps=0, train_stream=None))


def test_a_model_the_exporter_cannot_take_is_skipped_with_the_exporters_reason(rows):
    row = rows[("dynamic-int8", "onnxruntime")]
    if row["status"] == "ok":  # a future exporter may take torch.ao modules: then it must agree with PyTorch
        assert row["score"] == pytest.approx(rows[("dynamic-int8", "torch-cpu")]["score"], abs=0.011)
    else:
        assert row["status"] == "skipped" and "torch.onnx.export cannot export this model" in row["error"]
    assert rows[("dynamic-int8", "torch-compile")]["status"] == "ok"


def test_onnx_outputs_that_disagree_with_pytorch_are_refused():
    from benchsuite_plugins.backends.onnxruntime_cpu import _check_outputs

    model = nn.Linear(4, 3)
    x = (torch.randn(5, 4),)
    _check_outputs(model, lambda *a: model(*a) + 1e-6, x)
    with pytest.raises(BenchsuiteError, match="disagrees with PyTorch"):
        _check_outputs(model, lambda *a: model(*a) + 0.1, x)


def test_onnxruntime_refuses_bf16_before_compressing_and_skips_graphs_its_cpu_provider_cannot_load():
    from benchsuite.errors import Unsupported
    from benchsuite_plugins.backends.onnxruntime_cpu import OnnxRuntime

    backend = OnnxRuntime()
    assert "no bfloat16 kernels" in backend.supports(frozenset({"bf16"}))
    assert backend.supports(frozenset({"fp16"})) is None
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).to(torch.bfloat16).eval()
    with pytest.raises(Unsupported, match="ONNX Runtime's CPU provider cannot run the exported model"):
        backend.prepare(model, (torch.randn(4, 8, dtype=torch.bfloat16),))


def test_onnx_export_is_dynamic_in_batch_and_sequence_length():
    from benchsuite_plugins.onnx_export import export_onnx, new_session, onnx_feeds

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, ids, mask):
            h = self.embed(ids) * mask.unsqueeze(-1)
            return self.head(h.sum(1) / mask.sum(1, keepdim=True))

    model = Tokens().eval()
    session = new_session(export_onnx(model, (torch.randint(0, 50, (4, 7)), torch.ones(4, 7, dtype=torch.long))), 1)
    for batch, seq in ((1, 3), (9, 20)):
        ids, mask = torch.randint(0, 50, (batch, seq)), torch.ones(batch, seq, dtype=torch.long)
        out = session.run(None, onnx_feeds(session, (ids, mask)))[0]
        assert torch.allclose(torch.from_numpy(out), model(ids, mask), atol=1e-5)


def test_torch_cuda_is_unavailable_with_a_reason_without_a_gpu():
    from benchsuite_plugins.backends.torch_cuda import TorchCUDA

    backend = TorchCUDA()
    if torch.cuda.is_available():
        assert backend.availability().ok
    else:
        available = backend.availability()
        assert not available.ok and "no CUDA GPU is visible" in available.reason
    # CPU-only methods are refused on it before compressing
    from benchsuite_plugins.methods.dynamic_int8 import DynamicInt8

    assert "run only on cpu, not on cuda" in DynamicInt8().runs_on(backend)


@cuda
def test_torch_cuda_measures_with_cuda_events_and_allocator_memory(toy_plugins_all_cuda):
    rows = toy_plugins_all_cuda
    base, pruned = rows[("baseline", "torch-cuda")], rows[("magnitude-pruning", "torch-cuda")]
    assert base["status"] == "ok" and base["device"] == "cuda" and base["peak_memory_bytes"] > 0
    assert pruned["status"] == "ok" and rows[("dynamic-int8", "torch-cuda")]["status"] == "skipped"


@pytest.fixture
def toy_plugins_all_cuda(all_plugins, toy_cache):
    grid = build_grid(all_plugins, ["toy-blobs"], ["magnitude-pruning:sparsity=0.5", "dynamic-int8"], ["torch-cuda"])
    return by_cell(run_grid(all_plugins, grid, QUICK, progress=False))
