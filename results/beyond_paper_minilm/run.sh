#!/usr/bin/env bash
# The beyond-paper sweep (conf/experiment/beyond_paper.yaml, issue 22): Table 2's methods and DoRA, IA3, VeRA,
# prompt tuning, and the frozen model's probe (no adaptation), on MiniLM-L6, SST-2 and MRPC, on the claims
# protocol of results/claims_minilm/run.sh, whose parts it reuses: the frozen install (a wheel of this checkout in
# its own venv, this script run from a copy there), each rate searched on seed 1 and picked on the 256 held-out
# training rows by results/claims_minilm/choose_rate.py (never on dev), then seeds 1-3 at that rate. From the repository root:
#   bash results/beyond_paper_minilm/run.sh [OUTPUT_ROOT]
# Finished records are skipped (resume=true): 66 search jobs + 44 seed jobs, ~1.5 min each at one thread (fp32:
# conf/experiment/beyond_paper.yaml says why not bf16).
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
  [peft_vera]=1e-3,4e-3,1e-2 [peft_prompt_tuning]=3e-3,1e-2,3e-2 [linear_probe]=1e-3,1e-2,1e-1
)
# One method on one task: its rate search on seed 1, then seeds 2 and 3 at the rate chosen on the held-out rows. The
# chosen rate's seed-1 search record is the final set's seed-1 job (same config, same hash): it is copied into
# records/, not trained again.
method_on_task() {
  local method=$1 task=$2 seed1 lr
  # each sweep its own folder: the two streams may start a sweep in the same second
  local sweep_dir
  sweep_dir="multirun/$(date +%Y-%m-%d/%H-%M-%S)-$method-$task"
  "$ab" run -m +experiment=beyond_paper method="$method" task="$task" trainer.lr="${RATES[$method]}" seed=1 \
    hydra.launcher.n_jobs=1 output_root="$out/search" hydra.sweep.dir="$out/search/$sweep_dir"
  # a stopped or failed search picks nothing: every searched rate needs its complete record
  read -r seed1 lr < <("$py" "$venv/choose_rate.py" --record --rates "${RATES[$method]}" "$out/search" "$method" \
    "$task") || return 0
  mkdir -p "$out/records/$task/minilm-l6" && cp "$seed1" "$out/records/$task/minilm-l6/" &&
    "$ab" run -m +experiment=beyond_paper method="$method" task="$task" trainer.lr="$lr" seed=2,3 \
      hydra.launcher.n_jobs=1 output_root="$out" hydra.sweep.dir="$out/$sweep_dir"
}
# Two streams, one core each (a method's jobs depend on its search; the streams balance the slow rows: full FT and
# prompt tuning's longer sequences). SST-2 first, then MRPC: a stopped sweep leaves whole tasks.
for task in sst2 mrpc; do
  (for method in full adapter_d adapter_p peft_dora peft_vera; do method_on_task "$method" "$task"; done) &
  (for method in bitfit adapter_h lora peft_ia3 peft_prompt_tuning linear_probe; do method_on_task "$method" "$task"; done) &
  wait
done
"$ab" table "$out" --out "$out/table.md"
