#!/usr/bin/env bash
# Regenerates results/cpu_glue_minilm (records, table.md, plots). Run it from the repository root:
#   bash results/cpu_glue_minilm/run.sh [OUTPUT_ROOT]
# Finished records are skipped (resume=true), so a stopped sweep continues where it stopped.
set -uo pipefail
out=${1:-results/cpu_glue_minilm}
# one torch thread per joblib worker (two workers: conf/experiment/cpu_glue_minilm.yaml)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline
# the grid: 6 methods x 5 tasks x 3 seeds = 90 jobs
adaptbench run -m +experiment=cpu_glue_minilm output_root="$out"
# Section 7's rank comparison: LoRA r = 64 on SST-2, seeds 1 and 2 (the r = 8 runs are in the grid)
adaptbench run -m +experiment=cpu_glue_minilm method=lora task=sst2 seed=1,2 method.r=64 output_root="$out"
adaptbench table "$out" --compare paper --out "$out/table.md"
adaptbench plot "$out" --out "$out/plots"
