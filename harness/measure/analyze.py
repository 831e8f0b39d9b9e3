"""``adaptbench analyze``: the paper's Section 7 analyses of trained LoRA runs.

* ``subspace RUN_A RUN_B``: the normalised subspace similarity of two runs' learned A matrices (Section 7.2,
  Figures 3-4: r=8 vs r=64, or two seeds)

      φ(A, B, i, j) = ‖U_Aⁱᵀ U_Bʲ‖²_F / min(i, j)  ∈ [0, 1]

  where U_Aⁱ holds the top-i right-singular vectors of A (an r × d_in matrix, so they live in the input space);
  1 means the top-i directions of one lie in the span of the top-j of the other, 0 that they are orthogonal.
  Printed as a grid for i, j ≤ 8 (``--max``) and drawn as a heatmap (PNG).
* ``amplification RUN``: how ΔW = (α/r)·B A relates to the pretrained W (Section 7.3, Table 7): ‖ΔW‖_F, and
  ‖UᵀWVᵀ‖_F with U, V the top-r left/right singular vectors of ΔW, of W itself and of a random (seeded) r-dim
  subspace; the amplification factor ‖ΔW‖_F / ‖U_ΔWᵀ W V_ΔWᵀ‖_F says how much ΔW amplifies directions that W
  had but did not emphasise (the paper: about 21.5 for r=4 on GPT-3's W_q, layer 48).

Both read the run's ``trainable.safetensors`` (``trainer.save_trainable=true``); which of its tensors are A
matrices, of which weight, the run's method says (``Method.low_rank_updates`` on a meta build of the run's model),
so a run of the built-in ``lora``, of PEFT's LoRA (``peft_lora``: a fused module such as GPT-2's ``c_attn`` is
adapted whole, weight ``q+k+v``) or of a composition with LoRA is read alike. ``amplification`` also rebuilds
the run's model for W (pretrained weights, or the run's seeded random ones), and takes the run's slice of a fused
matrix (GPT-2's q inside ``c_attn``). Layers are numbered from 0, as in the models' module names.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.api.errors import ConfigError, bad_choice, bad_value
from adaptbench.harness.api.plugins import LowRankUpdate
from adaptbench.harness.records.store import artifacts_dir, read_record

GRID_MAX = 8  # the paper's zoomed Figure 3 shows i, j <= 8
TENSORS_FILE = "trainable.safetensors"


# --------------------------------------------------------------------------------------------- the math
def right_singular_vectors(a: torch.Tensor) -> torch.Tensor:
    """The right-singular vectors of ``a`` (r × d_in) as columns (d_in × r), by decreasing singular value."""
    _, _, vh = torch.linalg.svd(a.double(), full_matrices=False)
    return vh.T


def subspace_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The grid φ(a, b, i, j) for i ≤ rank rows of ``a``, j ≤ rows of ``b``: entry [i-1, j-1].

    ‖U_aⁱᵀ U_bʲ‖²_F is the sum of the squared entries of the top-left i × j block of U_aᵀ U_b, so the whole grid
    is a double cumulative sum of those squares, divided by min(i, j)."""
    if a.shape[1] != b.shape[1]:
        raise ConfigError(
            f"the runs' A matrices read inputs of different sizes ({a.shape[1]} and {b.shape[1]}): "
            "compare runs of the same model and weight"
        )
    overlap = (right_singular_vectors(a).T @ right_singular_vectors(b)) ** 2
    cumulative = overlap.cumsum(0).cumsum(1)
    i = torch.arange(1, overlap.shape[0] + 1, dtype=overlap.dtype)[:, None]
    j = torch.arange(1, overlap.shape[1] + 1, dtype=overlap.dtype)[None, :]
    return cumulative / torch.minimum(i, j)


def projection_norm(w: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> float:
    """‖Uᵀ W Vᵀ‖_F for U (d_out × r) and Vᵀ given as V (d_in × r), both with orthonormal columns."""
    return float(torch.linalg.matrix_norm(u.T @ w @ v))


def random_orthonormal(rows: int, r: int, generator: torch.Generator) -> torch.Tensor:
    """``rows`` × r with orthonormal columns spanning a uniformly random r-dim subspace."""
    q, _ = torch.linalg.qr(torch.randn(rows, r, generator=generator, dtype=torch.float64))
    return q


@dataclass
class Amplification:
    """Table 7's numbers for one W and its ΔW (Frobenius norms)."""

    r: int
    w_norm: float
    delta_norm: float
    # ‖UᵀWVᵀ‖_F with U, V the top-r singular vectors of ΔW, of W, and a random subspace
    projected_on_delta: float
    projected_on_w: float
    projected_on_random: float
    factor: float


def amplification(w: torch.Tensor, delta: torch.Tensor, r: int, seed: int = 0) -> Amplification:
    """Table 7 for ``w`` and ``delta`` (both d_out × d_in), projecting on r-dim subspaces."""
    w, delta = w.detach().double(), delta.detach().double()
    u_d, _, vh_d = torch.linalg.svd(delta, full_matrices=False)
    u_w, _, vh_w = torch.linalg.svd(w, full_matrices=False)
    generator = torch.Generator().manual_seed(seed)
    u_rand = random_orthonormal(w.shape[0], r, generator)
    v_rand = random_orthonormal(w.shape[1], r, generator)
    delta_norm = float(torch.linalg.matrix_norm(delta))
    on_delta = projection_norm(w, u_d[:, :r], vh_d[:r].T)
    return Amplification(
        r=r,
        w_norm=float(torch.linalg.matrix_norm(w)),
        delta_norm=delta_norm,
        projected_on_delta=on_delta,
        projected_on_w=projection_norm(w, u_w[:, :r], vh_w[:r].T),
        projected_on_random=projection_norm(w, u_rand, v_rand),
        factor=delta_norm / on_delta if on_delta > 0 else float("inf"),
    )


# --------------------------------------------------------------------------------------------- runs
@dataclass
class LoRARun:
    """A complete run with LoRA updates: its record, config and saved tensors, and where its A matrices are."""

    path: Path
    cfg: DictConfig
    tensors: Path
    # (weight, layer) -> the saved tensor name of its A
    a_names: dict[tuple[str, int], str]
    # (weight, layer) -> the path of the adapted module (``LowRankUpdate.module``)
    modules: dict[tuple[str, int], str]
    n_layers: int
    r: int
    alpha: float

    @property
    def label(self) -> str:
        return f"{self.path.stem} ({self.cfg.method.name}, r={self.r}, alpha={self.alpha:g})"

    def weights(self) -> list[str]:
        return sorted({weight for weight, _ in self.a_names})

    def layers(self, weight: str) -> list[int]:
        return sorted(layer for w, layer in self.a_names if w == weight)

    def a(self, weight: str, layer: int) -> torch.Tensor:
        from safetensors import safe_open

        with safe_open(str(self.tensors), framework="pt") as handle:
            return handle.get_tensor(self.a_names[(weight, layer)])


def low_rank_plugins() -> list[str]:
    """The registered method plugins with LoRA updates of their own (``Method.low_rank_updates``)."""
    from adaptbench.harness.api.plugins import Method
    from adaptbench.harness.api.registry import METHODS

    return [n for n in METHODS.names() if METHODS.get(n).low_rank_updates is not Method.low_rank_updates]


def meta_updates(cfg: DictConfig) -> tuple[list[LowRankUpdate], dict[int, str]]:
    """The run's model adapted on the ``meta`` device (no weights: a second), its method's ``low_rank_updates``
    and the parameter names by ``id``: which saved tensor is which A, whatever the method calls it."""
    from adaptbench.harness.api.layout import Layout
    from adaptbench.harness.api.loading import load_method, load_task
    from adaptbench.harness.api.models import build_model
    from adaptbench.harness.api.plugins import adapt

    method, task = load_method(cfg.method), load_task(cfg.task)
    model = build_model(cfg.model, task.kind, task.num_labels, device="meta")
    adapt(model, method, Layout.from_config(cfg.model.layout))
    return method.low_rank_updates(model), {id(p): n for n, p in model.named_parameters()}


def block_index(module: str, blocks: str) -> int | None:
    """The block number in a module path ``...<blocks>.<n>....``."""
    match = re.search(rf"(?:^|\.){re.escape(blocks)}\.(\d+)\.", module)
    return int(match.group(1)) if match else None


def load_lora_run(location: str) -> LoRARun:
    """Check that ``location`` is the record of a complete run whose method put LoRA updates into the model
    (``Method.low_rank_updates`` on a meta build: the harness knows no method's tensor names) and whose saved
    tensors hold their A matrices (one-line ConfigError otherwise), and index them. Builds no weights."""
    from safetensors import safe_open

    from adaptbench.harness.api.models import arch_config

    path = Path(location)
    if not path.is_file():
        raise bad_value("RUN", location, "no such file; give a run record (.json)")
    record = read_record(path)
    if record["status"] != "complete":
        raise bad_value("RUN", location, f"its run is {record['status']}, not complete")
    cfg = OmegaConf.create(record["config"])
    tensors = artifacts_dir(path) / TENSORS_FILE
    if not tensors.is_file():
        raise bad_value(
            "RUN",
            location,
            f"no {tensors}: the run kept no tensors; rerun it with trainer.save_trainable=true",
        )
    updates, names = meta_updates(cfg)
    if not updates:
        raise bad_value(
            "RUN",
            location,
            f"method={record['method']!r} trains no LoRA: its adapted model has no low-rank update B A; give a "
            f"run of a method with one (plugins {', '.join(low_rank_plugins())})",
        )
    with safe_open(str(tensors), framework="pt") as handle:
        saved = set(handle.keys())
    a_names, modules = {}, {}
    for update in updates:
        name = names.get(id(update.lora_A))
        if name not in saved:
            raise bad_value(
                "RUN", location, f"{tensors} holds no {name}: not the tensors of this run's method"
            )
        key = (update.target, block_index(update.module, str(cfg.model.layout.blocks)))
        a_names[key], modules[key] = name, update.module
    first = updates[0]
    n_layers = int(arch_config(cfg.model).num_hidden_layers)
    return LoRARun(path, cfg, tensors, a_names, modules, n_layers, int(first.lora_A.shape[0]), first.alpha)


def check_choice(run: LoRARun, weight: str, layer: int | None) -> int:
    """The layer to analyse (default: the middle one, as the paper's Figure 3 shows GPT-3's layer 48 of 96),
    after checking ``weight`` and ``layer`` against what the run adapted."""
    if weight not in run.weights():
        raise bad_choice("--weight", weight, run.weights())
    layers = run.layers(weight)
    chosen = layers[len(layers) // 2] if layer is None else layer
    if chosen not in layers:
        raise bad_value(
            "--layer", layer, f"{run.path.name} adapted {weight} in layers {layers[0]}..{layers[-1]} (from 0)"
        )
    return chosen


def adapted_matrices(run: LoRARun, weight: str, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, ΔW), both d_out × d_in, of ``weight`` in block ``layer``: the run's model rebuilt as ``adaptbench
    export`` does (same weights), W the frozen base weight or the run's slice of a fused one."""
    from adaptbench.harness.measure.export import rebuild

    rebuilt = rebuild(run.cfg, run.tensors)
    module = run.modules[(weight, layer)]
    update = next(
        u for u in rebuilt.method.low_rank_updates(rebuilt.model) if (u.target, u.module) == (weight, module)
    )
    return update.weight.double(), update.delta_weight().detach().double()


# --------------------------------------------------------------------------------------------- output
def grid_text(grid: torch.Tensor, shown: int) -> str:
    rows, cols = min(shown, grid.shape[0]), min(shown, grid.shape[1])
    lines = ["      " + "".join(f"{f'j={j}':>7}" for j in range(1, cols + 1))]
    for i in range(rows):
        lines.append(f"{f'i={i + 1}':<6}" + "".join(f"{float(grid[i, j]):7.3f}" for j in range(cols)))
    return "\n".join(lines)


def draw_heatmap(grid: torch.Tensor, shown: int, labels: tuple[str, str], title: str, out: Path) -> None:
    """The grid as Figure 3 draws it: the whole i × j range, and beside it the zoom on i, j ≤ ``shown`` when
    either rank is larger."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = [grid]
    if max(grid.shape) > shown:
        views.append(grid[:shown, :shown])
    figure, axes = plt.subplots(1, len(views), figsize=(4.6 * len(views), 4.2), squeeze=False)
    titles = ["all i, j", f"i, j ≤ {shown}"] if len(views) > 1 else [""]
    for ax, view, panel in zip(axes[0], views, titles, strict=True):
        ax.set_title(panel, fontsize="small")
        image = ax.imshow(view.numpy(), vmin=0.0, vmax=1.0, cmap="viridis", origin="upper", aspect="auto")
        for axis, size in ((ax.xaxis, view.shape[1]), (ax.yaxis, view.shape[0])):
            positions = range(0, size, max(1, size // 8))  # r=64: 1, 9, 17, ...
            axis.set_ticks(list(positions), [str(k + 1) for k in positions], fontsize="x-small")
        ax.set_xlabel(f"j ({labels[1]})")
        ax.set_ylabel(f"i ({labels[0]})")
        figure.colorbar(image, ax=ax, fraction=0.046)
    figure.suptitle(title, fontsize="small")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=150)
    plt.close(figure)


def cmd_subspace(args: argparse.Namespace) -> int:
    first, second = load_lora_run(args.run_a), load_lora_run(args.run_b)
    layer = check_choice(first, args.weight, args.layer)
    check_choice(second, args.weight, layer)
    grid = subspace_similarity(first.a(args.weight, layer), second.a(args.weight, layer))
    out = Path(args.out or f"subspace-{args.weight}-layer{layer}.png")
    title = f"φ(A, B, i, j), weight {args.weight}, layer {layer}"
    labels = (f"A: r={grid.shape[0]}", f"B: r={grid.shape[1]}")
    draw_heatmap(grid, args.max, labels, title, out)
    print(
        f"subspace similarity φ(A, B, i, j) of the top-i and top-j right-singular vectors of A_{args.weight}"
    )
    print(f"  A: {first.label}\n  B: {second.label}\n  layer {layer} (from 0)")
    print(grid_text(grid, args.max))
    print(f"heatmap: {out}")
    return 0


def cmd_amplification(args: argparse.Namespace) -> int:
    run = load_lora_run(args.run)
    layer = check_choice(run, args.weight, args.layer)
    r = int(run.a(args.weight, layer).shape[0])
    w, delta = adapted_matrices(run, args.weight, layer)
    numbers = amplification(w, delta, r, args.seed)
    if args.json:
        print(json.dumps({"run": str(run.path), "weight": args.weight, "layer": layer, **asdict(numbers)}))
        return 0
    print(
        f"amplification of W_{args.weight} by ΔW = (alpha/r)·B A, layer {layer} (from 0), W {tuple(w.shape)}"
    )
    print(f"  run: {run.label}")
    print(f"  ‖W‖_F   {numbers.w_norm:.4f}")
    print(f"  ‖ΔW‖_F  {numbers.delta_norm:.4f}")
    print(f"  ‖UᵀWVᵀ‖_F, U and V the top-{r} singular vectors of:")
    print(f"    ΔW                {numbers.projected_on_delta:.4f}")
    print(f"    W                 {numbers.projected_on_w:.4f}")
    print(f"    random (seed {args.seed})   {numbers.projected_on_random:.4f}")
    print(f"  amplification factor ‖ΔW‖_F / ‖U_ΔWᵀ W V_ΔWᵀ‖_F  {numbers.factor:.2f}")
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="adaptbench analyze", description="The paper's Section 7 analyses of trained LoRA runs."
    )
    commands = parser.add_subparsers(dest="analysis", required=True, metavar="{subspace,amplification}")
    subspace = commands.add_parser("subspace", help="φ(A, B, i, j) of two runs' LoRA A matrices (Figure 3)")
    subspace.add_argument("run_a", metavar="RUN_A", help="a LoRA run's record (.json), saved tensors")
    subspace.add_argument("run_b", metavar="RUN_B", help="another one of the same model")
    subspace.add_argument("--out", help="the heatmap's PNG (default: subspace-<weight>-layer<N>.png)")
    subspace.add_argument("--max", type=int, default=GRID_MAX, help="i, j shown in the grid (default 8)")
    amp = commands.add_parser("amplification", help="‖ΔW‖ vs W projected on ΔW's directions (Table 7)")
    amp.add_argument("run", metavar="RUN", help="a LoRA run's record (.json), saved tensors")
    amp.add_argument("--seed", type=int, default=0, help="of the random subspace (default 0)")
    amp.add_argument("--json", action="store_true", help="the numbers as one JSON line")
    for sub in (subspace, amp):
        sub.add_argument("--weight", default="q", help="the adapted weight: q, k, v, o, ... (default q)")
        sub.add_argument("--layer", type=int, default=None, help="block, from 0 (default: the middle one)")
    args = parser.parse_args(list(argv))
    if args.analysis == "subspace" and args.max < 1:
        raise bad_value("--max", args.max, "must be >= 1")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    return cmd_subspace(args) if args.analysis == "subspace" else cmd_amplification(args)
