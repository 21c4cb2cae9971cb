"""Streamed evaluation (metrics keep one small row per sample, never the logits, and score exactly as the
concatenated logits did) and the language-model metrics, perplexity and next-token accuracy."""

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest
import torch

from benchsuite.errors import PluginError
from benchsuite.measure.evaluation import evaluate
from benchsuite.measure.stats import bootstrap_score_ci, wilson_interval
from benchsuite.sdk import metrics
from benchsuite.sdk.interfaces import Metric
from benchsuite.sdk.metrics import (ACCURACY, IGNORE_INDEX, MACRO_F1, NEXT_TOKEN_ACCURACY, PERPLEXITY, accuracy,
                                    class_rows, macro_f1, next_token_accuracy_of_rows, perplexity,
                                    perplexity_of_rows, token_rows)
from benchsuite_plugins.tasks.imagenet_fidelity import ImageNetFidelityTask

TOP1_AGREEMENT, TOP5_OVERLAP = ImageNetFidelityTask.metric, ImageNetFidelityTask.extra_metrics[0]


def _identity(logits):
    return logits


def _concatenated(metric: Metric) -> Metric:
    """`metric` with `compute` alone: evaluation keeps all logits, as it did before metrics streamed."""
    return dataclasses.replace(metric, per_sample=None, from_samples=None)


def _batches(logits, labels, size=32):
    return [((logits[i:i + size],), labels[i:i + size]) for i in range(0, len(labels), size)]


def _classification(n=300, classes=5, seed=0):
    """Random logits of a 5-class model that leans to the right class on about 70% of `n` samples, and labels."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=gen)
    logits = torch.randn(n, classes, generator=gen)
    logits[torch.arange(n), labels] += 1.5 * (torch.rand(n, generator=gen) < 0.7)
    return logits, labels


def _fidelity(photos=6, views=20, classes=100, seed=0):
    """ImageNet-fidelity logits of a model near the reference (100 classes: the concatenated path's bootstrap
    recomputes top-5s 2,000 times), and label rows as the task makes them: the reference's top-5 classes, then the
    view's photo."""
    gen = torch.Generator().manual_seed(seed)
    reference = torch.randn(photos * views, classes, generator=gen)
    logits = reference + 0.3 * torch.randn(reference.shape, generator=gen)
    photo = torch.arange(photos).repeat_interleave(views).unsqueeze(1)
    return logits, torch.cat([reference.topk(5).indices, photo], dim=1)


@pytest.mark.parametrize("metric, data", [(ACCURACY, _classification), (MACRO_F1, _classification),
                                          (TOP1_AGREEMENT, _fidelity), (TOP5_OVERLAP, _fidelity)],
                         ids=["accuracy", "macro_f1", "top1_agreement", "top5_overlap"])
def test_a_streamed_evaluation_gives_exactly_the_score_and_interval_of_the_concatenated_logits(metric, data,
                                                                                              one_thread):
    logits, labels = data()
    assert metric.streams
    streamed = evaluate(_identity, iter(_batches(logits, labels)), metric)
    concatenated = evaluate(_identity, iter(_batches(logits, labels)), _concatenated(metric))
    assert streamed == concatenated
    assert streamed.samples == len(labels) and streamed.interval[0] <= streamed.score <= streamed.interval[1]


def test_extra_metrics_stream_too_and_score_as_their_concatenated_forms():
    logits, labels = _fidelity()
    streamed = evaluate(_identity, iter(_batches(logits, labels)), TOP1_AGREEMENT, extra=(TOP5_OVERLAP,))
    concatenated = evaluate(_identity, iter(_batches(logits, labels)), _concatenated(TOP1_AGREEMENT),
                            extra=(_concatenated(TOP5_OVERLAP),))
    assert streamed == concatenated and set(streamed.extras) == {"top5_overlap_with_fp32"}
    assert 0.0 < streamed.extras["top5_overlap_with_fp32"] < 1.0


def _macro_f1_as_before(logits, labels):
    """macro_f1 as it was before metrics streamed: a loop over the logits' classes."""
    predicted, scores = logits.argmax(dim=-1), []
    for cls in range(logits.shape[-1]):
        tp = int(((predicted == cls) & (labels == cls)).sum())
        fp = int(((predicted == cls) & (labels != cls)).sum())
        fn = int(((predicted != cls) & (labels == cls)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(sum(scores) / len(scores))


def test_the_streamed_metrics_score_every_subset_exactly_as_the_metrics_did_before_they_streamed():
    logits, labels = _classification()
    fidelity_logits, fidelity_labels = _fidelity()
    subsets = np.random.default_rng(0).integers(0, 120, size=(20, 120))
    for picks in subsets:
        rows = ACCURACY.per_sample(logits[picks], labels[picks])
        assert ACCURACY.from_samples(rows) == float((logits[picks].argmax(-1) == labels[picks]).float().mean())
        rows = MACRO_F1.per_sample(logits[picks], labels[picks])
        assert MACRO_F1.from_samples(rows) == _macro_f1_as_before(logits[picks], labels[picks])
        x, y = fidelity_logits[picks], fidelity_labels[picks]
        assert TOP1_AGREEMENT.from_samples(TOP1_AGREEMENT.per_sample(x, y)) == float(
            (x.argmax(dim=-1) == y[:, 0]).float().mean())
        overlap = (x.topk(5, dim=-1).indices.unsqueeze(2) == y[:, :5].unsqueeze(1)).any(dim=2)
        assert TOP5_OVERLAP.from_samples(TOP5_OVERLAP.per_sample(x, y)) == float(overlap.float().mean())
    assert accuracy(logits, labels) == ACCURACY.from_samples(ACCURACY.per_sample(logits, labels))
    assert macro_f1(logits, labels) == _macro_f1_as_before(logits, labels)
    assert ACCURACY.proportion and not MACRO_F1.proportion


def test_macro_f1_rows_carry_the_class_count_so_a_subset_still_averages_over_every_class():
    logits, labels = _classification(n=3)
    rows = class_rows(logits, labels)
    assert rows.shape == (3, 3) and rows.dtype == torch.float64 and set(rows[:, 2].tolist()) == {5.0}
    assert MACRO_F1.from_samples(rows) == macro_f1(logits, labels)  # at most 3 of the 5 classes are present
    assert MACRO_F1.from_samples(rows[:0]) == 0.0


def test_a_metric_with_compute_alone_still_works_beside_streaming_ones():
    def mean_margin(logits, labels):  # a third party's metric, written before metrics streamed
        top2 = logits.topk(2, dim=-1).values
        return float((top2[:, 0] - top2[:, 1]).mean())

    logits, labels = _classification()
    margin = Metric("mean_margin", True, mean_margin)
    assert not margin.streams
    scored = evaluate(_identity, iter(_batches(logits, labels)), margin, extra=(ACCURACY,))
    assert scored.score == mean_margin(logits, labels) and scored.extras == {"accuracy": accuracy(logits, labels)}
    assert scored.interval == bootstrap_score_ci(lambda picks: mean_margin(logits[picks], labels[picks]), 300)
    beside = evaluate(_identity, iter(_batches(logits, labels)), ACCURACY, extra=(margin,))
    assert beside.score == accuracy(logits, labels) and beside.extras == {"mean_margin": mean_margin(logits, labels)}
    assert beside.interval == wilson_interval(beside.score, 300)


def test_per_sample_rows_that_miscount_the_samples_are_a_plugin_error():
    logits, labels = _classification(n=40)
    broken = dataclasses.replace(ACCURACY, per_sample=lambda logits, labels: ACCURACY.per_sample(logits, labels)[1:])
    with pytest.raises(PluginError, match=r"per_sample gave rows of shape \(31, 1\) for 32 samples"):
        evaluate(_identity, iter(_batches(logits, labels)), broken)


def _two_windows():
    """Two windows of 3 positions over a 3-word vocabulary, 3 positions scored (the rest `IGNORE_INDEX`)."""
    half_first = torch.log(torch.tensor([0.5, 0.25, 0.25]))
    half_last = torch.log(torch.tensor([0.25, 0.25, 0.5]))
    # the unscored positions' logits would be sure hits of the clamped target 0 if they were counted
    window0 = torch.stack([half_first, half_first, torch.tensor([50.0, 0, 0])])
    window1 = torch.stack([half_last, torch.tensor([50.0, 0, 0]), torch.tensor([50.0, 0, 0])])
    labels = torch.tensor([[0, 1, IGNORE_INDEX], [2, IGNORE_INDEX, IGNORE_INDEX]])
    return torch.stack([window0, window1]), labels


def test_perplexity_and_next_token_accuracy_match_a_hand_computed_example():
    logits, labels = _two_windows()
    ln2 = math.log(2)
    # window 0: -ln 0.5 - ln 0.25 over 2 tokens, 1 right (class 0); window 1: -ln 0.5 over 1 token, right
    assert token_rows(logits, labels).flatten().tolist() == pytest.approx([3 * ln2, 2, 1, ln2, 1, 1], rel=1e-6)
    scored = evaluate(_identity, iter([((logits,), labels)]), PERPLEXITY)
    assert scored.score == pytest.approx(2 ** (4 / 3), rel=1e-6) and scored.samples == 2
    assert evaluate(_identity, iter([((logits,), labels)]), NEXT_TOKEN_ACCURACY).score == pytest.approx(2 / 3)
    assert PERPLEXITY.name == "perplexity" and not PERPLEXITY.higher_is_better
    assert NEXT_TOKEN_ACCURACY.name == "next_token_accuracy" and NEXT_TOKEN_ACCURACY.higher_is_better


def test_perplexity_of_uniform_logits_is_the_vocabulary_size():
    labels = torch.randint(0, 1000, (3, 8), generator=torch.Generator().manual_seed(0))
    labels[:, 0] = IGNORE_INDEX
    assert perplexity(torch.zeros(3, 8, 1000), labels) == pytest.approx(1000, rel=1e-5)


def test_the_chunked_log_softmax_equals_cross_entropy_however_the_chunks_fall(monkeypatch):
    gen = torch.Generator().manual_seed(1)
    logits, labels = 3 * torch.randn(4, 9, 50, generator=gen), torch.randint(0, 50, (4, 9), generator=gen)
    labels[1, 5:] = IGNORE_INDEX
    expected = math.exp(float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())))
    whole = perplexity(logits, labels)
    monkeypatch.setattr(metrics, "LOG_SOFTMAX_CHUNK_ELEMENTS", 7 * 50)  # 7 positions a chunk: across windows
    assert perplexity(logits, labels) == pytest.approx(whole, rel=1e-12)
    assert whole == pytest.approx(expected, rel=1e-5)
    assert perplexity(logits.half(), labels) == pytest.approx(math.exp(float(torch.nn.functional.cross_entropy(
        logits.half().float().flatten(0, 1), labels.flatten()))), rel=1e-5)  # half logits are scored in float32


def test_next_token_accuracy_gets_a_bootstrap_over_windows_not_wilsons_interval_over_tokens():
    # 40 windows of 50 tokens, each window all right or all wrong: 40 samples' worth of information, not 2,000
    right = torch.rand(40, generator=torch.Generator().manual_seed(2)) < 0.6
    labels = torch.zeros(40, 50, dtype=torch.long)
    logits = torch.nn.functional.one_hot(torch.where(right, 0, 1), 2).float().unsqueeze(1).expand(40, 50, 2)
    scored = evaluate(_identity, iter(_batches(logits, labels, size=8)), NEXT_TOKEN_ACCURACY)
    rows = token_rows(logits, labels)
    assert scored.score == pytest.approx(float(right.float().mean())) and scored.samples == 40
    assert scored.interval == bootstrap_score_ci(lambda picks: next_token_accuracy_of_rows(rows[picks]), 40)
    low, high = wilson_interval(scored.score, 2000)
    assert scored.interval[1] - scored.interval[0] > 3 * (high - low)
    ppl = evaluate(_identity, iter(_batches(logits, labels, size=8)), PERPLEXITY)
    assert ppl.interval == bootstrap_score_ci(lambda picks: perplexity_of_rows(rows[picks]), 40)


class _NumpyLM:
    """A fake language model whose logits live in numpy arrays, whose memory `tracemalloc` counts (torch's own
    allocations it does not see): a batch's logits are traced until the last reference to them goes. Records the
    traced bytes as each batch starts."""

    def __init__(self, vocab: int):
        self.vocab = vocab
        self.traced_at_batch: list[int] = []

    def __call__(self, input_ids):
        self.traced_at_batch.append(tracemalloc.get_traced_memory()[0])
        return torch.from_numpy(np.zeros((*input_ids.shape, self.vocab), dtype=np.float32))


#: the fake language model's vocabulary, windows per batch and tokens per window: 12.8 MB of logits a batch
VOCAB, WINDOWS, TOKENS = 50_000, 2, 32
BATCH_LOGITS_BYTES = WINDOWS * TOKENS * VOCAB * 4


def _lm_batches(count: int):
    gen = torch.Generator().manual_seed(0)
    for _ in range(count):
        labels = torch.randint(0, VOCAB, (WINDOWS, TOKENS), generator=gen)
        yield (torch.zeros(WINDOWS, TOKENS, dtype=torch.long),), labels


def _traced_evaluation(metric: Metric, batches: int) -> tuple[_NumpyLM, object]:
    lm = _NumpyLM(VOCAB)
    tracemalloc.start()
    try:
        scored = evaluate(lm, _lm_batches(batches), metric)
    finally:
        tracemalloc.stop()
    return lm, scored


def test_a_streamed_language_model_evaluation_keeps_three_numbers_a_window_however_many_batches(one_thread):
    kept_shapes = []

    def spied(rows):
        kept_shapes.append(tuple(rows.shape))
        return perplexity_of_rows(rows)

    lm, scored = _traced_evaluation(dataclasses.replace(PERPLEXITY, from_samples=spied), batches=16)
    assert scored.samples == 16 * WINDOWS and scored.score == pytest.approx(VOCAB, rel=1e-5)
    assert kept_shapes[0] == (16 * WINDOWS, 3)  # the score: one row of 3 per window, nothing per token
    # from batch 4 to batch 16, 12 batches of logits (154 MB) went through; the evaluation grew by under 128 KB
    assert lm.traced_at_batch[15] - lm.traced_at_batch[3] < BATCH_LOGITS_BYTES / 100


def test_the_measure_sees_an_evaluation_that_keeps_the_logits(one_thread):
    # a metric with compute alone (a proportion: Wilson's interval, no bootstrap over 77 MB of logits)
    kept = Metric("first_logit", True, lambda logits, labels: float(logits[0, 0, 0]), proportion=True)
    lm, _ = _traced_evaluation(kept, batches=6)
    assert lm.traced_at_batch[5] - lm.traced_at_batch[1] >= 4 * BATCH_LOGITS_BYTES
