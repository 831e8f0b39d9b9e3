#!/usr/bin/env bash
# The claims sweep: claims 1-5 of results/claims.md (presets conf/experiment/claims_minilm*.yaml). From the
# repository root:
#   bash results/claims_minilm/run.sh [OUTPUT_ROOT [STEP...]]   (steps: the functions at the end; default all)
# 1. freezes the code it records: a wheel of this checkout installed into its own venv (.claims-venv), and a copy
#    of this script run from there, so editing the worktree during the run changes nothing that runs (each
#    record's provenance names that install);
# 2. every search runs seed 1 over a method's rates into ROOT/search; choose_rate.py picks the rate whose run
#    scored best on the 256 held-out training rows (task.selection), never on dev;
# 3. seeds 1-3 at that rate into ROOT: the tables read only those. Seed 1 is trained a second time there, with
#    the search's config hash: determinism.py compares the two (the measured rerun spread).
# ROOT is OUTPUT_ROOT for claim 1 and OUTPUT_ROOT/<claim> for the others (adapters, rank, prefix, weight_types),
# so that each claim's table reads only its own runs.
# Finished records are skipped (resume=true): a stopped sweep continues where it stopped; commit records as they
# land. CoLA and RTE (whole training sets, 3 epochs: conf/cell/claims_minilm/) are searched on their own held-out
# rows like the rest (session 7 gave them each method's SST-2 pick: LoRA's 3e-3 left CoLA at MCC 0.0).
# Cost, measured (one thread a job): ~204 short jobs (~0.75 min) + CoLA/RTE search and seeds (full 15 / 5.8 min,
# LoRA 3 / 3.3, probe 1.6 / 1.7 a job: up to ~180 job-min) = ~330 job-min, about 2 h 50 min on 2 joblib workers.
set -uo pipefail
out=${1:-results/claims_minilm}
search="$out/search"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline
venv=${CLAIMS_VENV:-.claims-venv}
. results/freeze.sh && freeze CLAIMS_FROZEN "$venv" results/claims_minilm/run.sh results/claims_minilm/choose_rate.py -- "$@"
ab="$venv/bin/adaptbench"
py="$venv/bin/python"

root() {  # PRESET: the claim's folder
  case $1 in claims_minilm) echo "$out" ;; *) echo "$out/${1#claims_minilm_}" ;; esac
}
search() {  # PRESET METHOD TASKS RATES [OVERRIDE...]: seed 1 at every rate
  "$ab" run -m +experiment="$1" method="$2" task="$3" trainer.lr="$4" seed=1 output_root="$(root "$1")/search" \
    "${@:5}"
}
rate() {  # PRESET METHOD TASK [KEY=VALUE...]: the rate the preset's search picked
  "$py" "$venv/choose_rate.py" "$(root "$1")/search" "${@:2}"
}
final() {  # PRESET METHOD TASK LR SEEDS [OVERRIDE...]
  "$ab" run -m +experiment="$1" method="$2" task="$3" trainer.lr="$4" seed="$5" output_root="$(root "$1")" "${@:6}"
}
searched() {  # PRESET METHOD TASKS RATES [KEY=VALUE...]: search, then seeds 1-3 at each task's pick
  local preset=$1 method=$2 tasks=$3 rates=$4 task lr
  shift 4
  search "$preset" "$method" "$tasks" "$rates" "${@/#/method.}"
  for task in ${tasks//,/ }; do
    lr=$(rate "$preset" "$method" "$task" "$@") && final "$preset" "$method" "$task" "$lr" 1,2,3 "${@/#/method.}"
  done
}

declare -A RATES=(
  [full]=3e-5,1e-4,3e-4 [lora]=3e-4,1e-3,3e-3 [linear_probe]=1e-3,1e-2,1e-1
  [adapter_h]=3e-4,1e-3,3e-3 [adapter_p]=3e-4,1e-3,3e-3 [adapter_l]=3e-4,1e-3,3e-3
  [prefix_embed]=1e-3,3e-3,1e-2 [prefix_layer]=1e-3,3e-3,1e-2
)
short=sst2,mrpc,stsb

claim1_short() {  # claim 1 (Table 2) on the three short tasks
  for method in full lora linear_probe; do searched claims_minilm "$method" "$short" "${RATES[$method]}"; done
}
claim2() {  # claim 2 (Table 2 dagger rows): adapters at LoRA's |Θ| (widths in conf/row/claims_minilm_adapters/)
  for method in adapter_h adapter_p adapter_l; do
    searched claims_minilm_adapters "$method" sst2,mrpc "${RATES[$method]}"
  done
}
claim4() {  # claim 4 (Table 6) and Figure 2's LoRA curve: r at LoRA's rate (r = 8 is claim 1's cell, trained again)
  for task in sst2 mrpc; do
    lr=$(rate claims_minilm lora "$task") && final claims_minilm_rank lora "$task" "$lr" 1,2,3 method.r=1,2,4,8,64
  done
}
claim5() {  # claim 5 (Figure 2): prefix lengths, each searched
  for method in prefix_embed prefix_layer; do
    for length in 2 8 32 64; do
      searched claims_minilm_prefix "$method" sst2 "${RATES[$method]}" prefix_len="$length" infix_len=0
    done
  done
}
claim3() {  # claim 3 (Table 5) at LoRA's rate
  for task in sst2 mrpc; do
    lr=$(rate claims_minilm lora "$task") && final claims_minilm_weight_types lora "$task" "$lr" 1,2,3 \
      weight_types=wq,wk,wv,wo,wq_wk,wq_wv,wq_wk_wv_wo
  done
}
claim1_long() {  # claim 1 on RTE and CoLA (the longest jobs), each method's rate searched on the task itself
  for method in lora linear_probe full; do searched claims_minilm "$method" rte,cola "${RATES[$method]}"; done
}

steps=("${@:2}")
[ ${#steps[@]} -gt 0 ] || steps=(claim1_short claim2 claim4 claim5 claim3 claim1_long)
for step in "${steps[@]}"; do
  declare -F "$step" >/dev/null || { echo "run.sh: unknown step '$step' (steps: claim1_short claim2 claim4 claim5 claim3 claim1_long)" >&2; exit 2; }
  "$step"
done

"$ab" table "$out" --out "$out/table.md"
[ -f "$out/README.md" ] && "$py" -m adaptbench.harness.report.readme "$out"
