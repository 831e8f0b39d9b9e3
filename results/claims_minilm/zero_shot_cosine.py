"""STS-B with no adaptation at all: the cosine of the packaged model's mean-pooled sentence embeddings, scored by
the task's own GLUE scorer (Pearson / Spearman on the dev set every claims run reports).

This is what all-MiniLM-L6-v2 was trained for (sentence-transformers encodes each sentence on its own and
averages the token states under the attention mask); a fine-tuned cross-encoder that does not beat it has
learnt nothing a user needs. The data is read by the task plugin (``load_task``: the same files and label
parsing as every run); the model is the ``model=minilm-l6`` folder. Writes ``zero_shot_stsb.json`` beside this
script (the README's generated ``reference`` part reads it):

    python results/claims_minilm/zero_shot_cosine.py [--data-dir ../shared/data/glue_stsb]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from transformers import AutoModel, AutoTokenizer

from adaptbench.harness.api.loading import load_task
from adaptbench.harness.api.models import resolve_location

HERE = Path(__file__).resolve().parent
MODEL = OmegaConf.load(HERE.parents[1] / "conf" / "model" / "minilm-l6.yaml")


def mean_pooled(texts: list[str], tokenizer, model, batch_size: int = 64) -> torch.Tensor:
    """Mean of the last hidden states over the real tokens (sentence-transformers' pooling for this model)."""
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        with torch.no_grad():
            states = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        out.append((states * mask).sum(1) / mask.sum(1).clamp(min=1e-9))
    return torch.cat(out)


def zero_shot(data_dir: str) -> dict:
    task = load_task({"name": "stsb", "data_dir": data_dir})
    dev = task.load()["validation"]
    folder = resolve_location(MODEL.path)
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    a = mean_pooled(list(dev["sentence1"]), tokenizer, model)
    b = mean_pooled(list(dev["sentence2"]), tokenizer, model)
    cosine = torch.nn.functional.cosine_similarity(a, b).numpy()
    metrics = task.metrics(cosine.astype(np.float64), np.asarray(dev["label"], dtype=np.float64))
    return {
        "task": "stsb",
        "model": MODEL.name,
        "method": "zero_shot_cosine",
        "split": "validation",
        "examples": len(dev),
        "metrics": {k: float(v) for k, v in metrics.items()},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/glue_stsb")
    parser.add_argument("--out", default=str(HERE / "zero_shot_stsb.json"))
    args = parser.parse_args()
    result = zero_shot(args.data_dir)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result["metrics"]))


if __name__ == "__main__":
    main()
