"""What decoding needs from transformers at class-definition time, apart from the task modules so that importing a
task (``adaptbench score`` does, to read and score text files) imports neither torch nor transformers."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor


class GeneratedNoRepeatNGram(LogitsProcessor):
    """Bans the n-grams already in the *generated* tokens (columns from ``prompt_len`` on), like the LoRA
    repository's beam search, which keeps its outputs apart from the context.

    Unlike ``transformers``' ``no_repeat_ngram_size`` it ignores the prompt: copying a 4-token name from the
    source is what data-to-text must do, and the prompt's virtual token ids (>= vocabulary size) must never become
    banned tokens (they would index past the logits).
    """

    def __init__(self, n: int, prompt_len: int) -> None:
        self.n = n
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_len :].tolist()
        if not generated or len(generated[0]) + 1 < self.n:
            return scores
        for row, tokens in enumerate(generated):
            tail = tuple(tokens[len(tokens) - self.n + 1 :])
            banned = {
                tokens[i + self.n - 1]
                for i in range(len(tokens) - self.n + 1)
                if tuple(tokens[i : i + self.n - 1]) == tail
            }
            banned = [t for t in banned if t < scores.shape[-1]]
            if banned:
                scores[row, banned] = -float("inf")
        return scores
