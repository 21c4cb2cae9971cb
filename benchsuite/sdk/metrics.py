"""Task metrics over logits and labels (accuracy, macro-F1, perplexity, next-token accuracy), as streaming `Metric`s.

The ready-made metrics are `ACCURACY`, `MACRO_F1`, `PERPLEXITY` and `NEXT_TOKEN_ACCURACY`. Each streams: its
``per_sample(logits, labels) -> rows`` reduces one batch to one float64 row per sample, and its
``from_samples(rows) -> float`` scores any subset of those rows (see `Metric`). The plain functions (`accuracy`,
`macro_f1`, ...) are ``from_samples(per_sample(logits, labels))`` and score a whole split at once.
"""

from __future__ import annotations

import torch

from benchsuite.sdk.interfaces import Metric

#: the label of a language-model position that is not scored (padding, a window's first token): PyTorch's
#: ``cross_entropy`` convention
IGNORE_INDEX = -100
#: logits converted to float32 at a time when scoring next tokens (64 MiB): the batch's memory stays its logits
#: plus this, whatever the vocabulary
LOG_SOFTMAX_CHUNK_ELEMENTS = 1 << 24


def hit_rows(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One row per sample: 1.0 where the top-1 class is the label, else 0.0 (`ACCURACY`'s `per_sample`)."""
    return (logits.argmax(dim=-1) == labels.to(logits.device)).to(torch.float64).unsqueeze(1)


def mean_of_rows(rows: torch.Tensor) -> float:
    """The mean of all the rows' values, computed in float32 as `accuracy` always was, so that a streamed score
    equals a stored one to the last bit (`from_samples` of accuracy-like metrics; nan for no rows)."""
    return float(rows.to(torch.float32).mean())


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy."""
    return mean_of_rows(hit_rows(logits, labels))


def class_rows(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One row per sample: the predicted class, the label and the number of classes of the logits (`MACRO_F1`'s
    `per_sample`; macro-F1 averages over the logits' classes, which the rows of any subset must still know)."""
    predicted = logits.argmax(dim=-1).to(torch.float64)
    classes = torch.full_like(predicted, logits.shape[-1])
    return torch.stack([predicted, labels.to(predicted), classes], dim=1)


def macro_f1_of_rows(rows: torch.Tensor) -> float:
    """Unweighted mean over classes of F1 from `class_rows` (a class never predicted nor present counts as 0)."""
    if not len(rows):
        return 0.0
    classes = int(rows[0, 2])
    predicted, labels = rows[:, 0].long(), rows[:, 1].long()
    true_positives = torch.bincount(predicted[predicted == labels], minlength=classes).tolist()
    predictions = torch.bincount(predicted, minlength=classes).tolist()
    labelled = torch.bincount(labels[(labels >= 0) & (labels < classes)], minlength=classes).tolist()
    scores = []
    for tp, predicted_count, label_count in zip(true_positives, predictions, labelled):
        fp, fn = predicted_count - tp, label_count - tp
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(sum(scores) / len(scores))


def macro_f1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Unweighted mean over classes of F1 (a class never predicted nor present counts as 0; classes are those
    of the logits)."""
    return macro_f1_of_rows(class_rows(logits, labels))


def token_rows(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One row per token window: its summed negative log-likelihood (nats), its scored tokens and its correct
    top-1 next tokens (`PERPLEXITY`'s and `NEXT_TOKEN_ACCURACY`'s `per_sample`).

    `logits` are ``[windows, tokens, vocab]``, `labels` the next-token ids ``[windows, tokens]``, `IGNORE_INDEX`
    where a position is not scored. The log-softmax is taken in float32, `LOG_SOFTMAX_CHUNK_ELEMENTS` logits at
    a time, and summed per window in float64.
    """
    windows, vocab = labels.shape[0], logits.shape[-1]
    flat_logits = logits.reshape(-1, vocab)
    flat_labels = labels.reshape(-1).to(flat_logits.device)
    scored = flat_labels != IGNORE_INDEX
    targets = torch.where(scored, flat_labels, 0).unsqueeze(1)
    nll = torch.empty(len(flat_labels), dtype=torch.float32, device=flat_logits.device)
    hits = torch.empty(len(flat_labels), dtype=torch.bool, device=flat_logits.device)
    step = max(1, LOG_SOFTMAX_CHUNK_ELEMENTS // vocab)
    for start in range(0, len(flat_labels), step):
        chunk, target = flat_logits[start:start + step].float(), targets[start:start + step]
        nll[start:start + step] = (chunk.logsumexp(dim=1, keepdim=True) - chunk.gather(1, target)).squeeze(1)
        hits[start:start + step] = chunk.argmax(dim=1) == target.squeeze(1)
    summed_nll = torch.where(scored, nll, 0.0).to(torch.float64).reshape(windows, -1).sum(dim=1)
    tokens = scored.reshape(windows, -1).sum(dim=1).to(torch.float64)
    correct = (hits & scored).reshape(windows, -1).sum(dim=1).to(torch.float64)
    return torch.stack([summed_nll, tokens, correct], dim=1)


def perplexity_of_rows(rows: torch.Tensor) -> float:
    """exp(summed negative log-likelihood / scored tokens) over the windows of `token_rows` (nan for no tokens)."""
    return float(torch.exp(rows[:, 0].sum() / rows[:, 1].sum()))


def next_token_accuracy_of_rows(rows: torch.Tensor) -> float:
    """Correct top-1 next tokens / scored tokens over the windows of `token_rows` (nan for no tokens)."""
    return float(rows[:, 2].sum() / rows[:, 1].sum())


def perplexity(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Perplexity of next-token predictions (see `token_rows` for the shapes and `IGNORE_INDEX`)."""
    return perplexity_of_rows(token_rows(logits, labels))


def next_token_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of scored positions whose top-1 token is the next token (see `token_rows`)."""
    return next_token_accuracy_of_rows(token_rows(logits, labels))


ACCURACY = Metric("accuracy", True, accuracy, proportion=True, per_sample=hit_rows, from_samples=mean_of_rows)
MACRO_F1 = Metric("macro_f1", True, macro_f1, per_sample=class_rows, from_samples=macro_f1_of_rows)
#: one evaluation sample is one token window; its interval is a bootstrap over windows
PERPLEXITY = Metric("perplexity", False, perplexity, per_sample=token_rows, from_samples=perplexity_of_rows)
#: not a `proportion`: the tokens of a window are correlated, so its interval is a bootstrap over windows, not
#: Wilson's over tokens
NEXT_TOKEN_ACCURACY = Metric("next_token_accuracy", True, next_token_accuracy, per_sample=token_rows,
                             from_samples=next_token_accuracy_of_rows)
