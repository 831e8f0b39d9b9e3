#!/usr/bin/env bash
# The beyond-paper sweep (conf/experiment/beyond_paper.yaml, issue 22): Table 2's methods and DoRA, IA3, VeRA,
# prompt tuning on MiniLM-L6, SST-2 and MRPC, on the claims protocol of results/claims_minilm/run.sh, whose parts
# it reuses: the frozen install (a wheel of this checkout in its own venv, this script run from a copy there),
# each rate searched on seed 1 and picked on the 256 held-out training rows by results/claims_minilm/choose_rate.py
# (never on dev), then seeds 1-3 at that rate. From the repository root:
#   bash results/beyond_paper_minilm/run.sh [OUTPUT_ROOT]
# Finished records are skipped (resume=true). NOT RUN YET: no cost measured (20 searches x 3 rates + 60 seeds;
# prompt tuning's 320-position sequences and VeRA's r = 5,760 projections are the slowest rows).
set -uo pipefail
out=${1:-results/beyond_paper_minilm}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline
venv=${BEYOND_VENV:-.beyond-venv}
. results/freeze.sh && freeze BEYOND_FROZEN "$venv" results/beyond_paper_minilm/run.sh results/claims_minilm/choose_rate.py -- "$@"
ab="$venv/bin/adaptbench"
py="$venv/bin/python"

declare -A RATES=(
  [full]=3e-5,1e-4,3e-4 [bitfit]=3e-4,1e-3,3e-3 [adapter_d]=3e-4,1e-3,3e-3 [adapter_h]=3e-4,1e-3,3e-3
  [adapter_p]=3e-4,1e-3,3e-3 [lora]=3e-4,1e-3,3e-3 [peft_dora]=3e-4,1e-3,3e-3 [peft_ia3]=1e-3,3e-3,1e-2
  [peft_vera]=1e-3,4e-3,1e-2 [peft_prompt_tuning]=3e-3,1e-2,3e-2
)
for method in full bitfit adapter_d adapter_h adapter_p lora peft_dora peft_ia3 peft_vera peft_prompt_tuning; do
  "$ab" run -m +experiment=beyond_paper method="$method" task=sst2,mrpc trainer.lr="${RATES[$method]}" seed=1 \
    output_root="$out/search"
  for task in sst2 mrpc; do
    lr=$("$py" "$venv/choose_rate.py" "$out/search" "$method" "$task") &&
      "$ab" run -m +experiment=beyond_paper method="$method" task="$task" trainer.lr="$lr" seed=1,2,3 \
        output_root="$out"
  done
done
"$ab" table "$out" --out "$out/table.md"
