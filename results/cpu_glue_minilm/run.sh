#!/usr/bin/env bash
# Regenerates results/cpu_glue_minilm (records, table.md, plots, analysis/). Run it from the repository root:
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
# the README's table (between its "generated" markers) from the same records
[ -f "$out/README.md" ] && python -m adaptbench.harness.report.readme "$out"
adaptbench plot "$out" --out "$out/plots"
# the results page (not committed: ~0.5 MB) and its screenshot (report.png; needs Debian's chromium)
adaptbench report "$out" --out /tmp/cpu_glue_minilm_report.html
if command -v chromium >/dev/null; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1000 \
    --screenshot=/tmp/cpu_glue_minilm_report.png file:///tmp/cpu_glue_minilm_report.html 2>/dev/null
  python -c "from PIL import Image; Image.open('/tmp/cpu_glue_minilm_report.png').convert('RGB').quantize(64).save('$out/report.png', optimize=True)"
fi

# Section 7 on those runs: the record of LoRA on SST-2 at rank $1, seed $2
lora_run() {
  python - "$out" "$1" "$2" <<'PY'
import json, pathlib, sys
out, rank, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for path in sorted(pathlib.Path(out, "records", "sst2", "minilm-l6").glob(f"lora-s{seed}-*.json")):
    if json.loads(path.read_text())["config"]["method"]["r"] == rank:
        print(path)
PY
}
mkdir -p "$out/analysis"
r8=$(lora_run 8 1) r64=$(lora_run 64 1) r64b=$(lora_run 64 2)
for weight in q v; do  # Figure 3: r = 8 against r = 64
  adaptbench analyze subspace "$r8" "$r64" --weight "$weight" --out "$out/analysis/subspace_${weight}_r8_r64.png" \
    > "$out/analysis/subspace_${weight}_r8_r64.txt"
done
# Figure 4: two seeds at r = 64
adaptbench analyze subspace "$r64" "$r64b" --weight q --out "$out/analysis/subspace_q_r64_seeds.png" \
  > "$out/analysis/subspace_q_r64_seeds.txt"
for rank in 8 64; do  # Table 7
  run=$r8; [ "$rank" = 64 ] && run=$r64
  adaptbench analyze amplification "$run" --weight q > "$out/analysis/amplification_q_r${rank}.txt"
  adaptbench analyze amplification "$run" --weight q --json > "$out/analysis/amplification_q_r${rank}.json"
done
