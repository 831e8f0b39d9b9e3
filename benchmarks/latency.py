"""Forward latency as in the LoRA paper's Table 1: GPT-2 medium, batch 1, 128 tokens, |Θ| = 11M; merged LoRA,
AdapterL and AdapterH, each against the unadapted model in the same process. A thin caller of
``adaptbench latency`` (harness/latency.py: random weights from the architecture, nothing downloaded; one record
per method under outputs/latency/). Extra Hydra overrides follow these defaults; the last value of a key wins:

    python benchmarks/latency.py latency.trials=100 latency.batch=16 latency.seq=256
"""

from __future__ import annotations

import sys

from adaptbench.harness.latency import main

TABLE_1 = [
    "-m",
    "model=gpt2-medium",
    "method=lora,adapter_l,adapter_h",
    "latency.budget=11M",
    "latency.batch=1",
    "latency.seq=128",
    "latency.trials=20",
]

if __name__ == "__main__":
    sys.exit(main([*TABLE_1, *sys.argv[1:]]))
