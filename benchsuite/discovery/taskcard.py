"""Task cards: what a task measures, on which data and reference model, in one printable record."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchsuite.sdk.interfaces import Task
from benchsuite.sdk.scoring import Generation


@dataclass(frozen=True)
class TaskCard:
    name: str
    version: str
    modality: str
    description: str
    data_source: str
    data_license: str
    splits: dict[str, int]
    checksums: dict[str, str]
    reference: str
    metric: str
    higher_is_better: bool
    extra_metrics: tuple[str, ...]
    preprocessing: str
    augmentation: str
    batch_size: int
    standard_suite: bool = True
    freeze_batchnorm: bool = False
    finetune_batch_size: int = 32
    availability: str = "available"
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: a generative task's timing; None: timed as one forward pass
    generation: Generation | None = None

    @classmethod
    def of(cls, task: Task) -> TaskCard:
        """The card of `task`; split sizes and checksums are read only if the task is available here."""
        available = task.availability()
        splits, checksums, notes = {}, {}, []
        if available.ok:
            try:
                splits, checksums = task.split_sizes(), task.checksums()
            except Exception as exc:  # the card still prints; the reason is on it
                notes.append(f"data not readable here: {exc}")
        return cls(task.name, task.version, task.modality, task.description, task.data_source, task.data_license,
                   splits, checksums, task.reference, task.metric.name, task.metric.higher_is_better,
                   tuple(m.name for m in task.extra_metrics), task.preprocessing, task.augmentation,
                   task.batch_size, task.standard_suite, task.freeze_batchnorm,
                   task.finetune_batch_size,
                   "available" if available.ok else f"unavailable: {available.reason}",
                   tuple(notes),
                   task.generation)

    def text(self) -> str:
        direction = "higher is better" if self.higher_is_better else "lower is better"
        lines = [f"{self.name} (version {self.version}, {self.modality})", "", self.description, "",
                 f"data:           {self.data_source or '-'}", f"license:        {self.data_license or '-'}",
                 f"splits:         {', '.join(f'{k} {v:,}' for k, v in self.splits.items()) or '-'}",
                 f"reference:      {self.reference or '-'}",
                 f"metric:         {self.metric} ({direction})"
                 + (f"; also recorded: {', '.join(self.extra_metrics)}" if self.extra_metrics else ""),
                 f"preprocessing:  {self.preprocessing or '-'}",
                 f"augmentation:   {self.augmentation or 'none'}",
                 f"batch size:     {self.batch_size} (latency is also measured at batch 1)",
                 *([f"timed as:       generation: a {self.generation.prompt_tokens}-token prompt, then "
                    f"{self.generation.new_tokens} "
                    "greedy tokens with the KV cache (TTFT, TPOT, tokens/s)"] if self.generation else []),
                 f"fine-tuning:    batch {self.finetune_batch_size}"
                 + ("; batch-norm statistics frozen (the reference's are kept)" if self.freeze_batchnorm else ""),
                 "default suite:  " + ("yes" if self.standard_suite else
                                       f"no (costly: run it with --task {self.name} or --suite full)"),
                 f"availability:   {self.availability}"]
        if self.checksums:
            lines.append("sha256:")
            lines += [f"  {digest}  {path}" for path, digest in self.checksums.items()]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)
