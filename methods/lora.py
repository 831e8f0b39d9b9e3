"""LoRA (Hu et al. 2021): h = W x + (alpha/r)·B A x on chosen weight matrices, W frozen.

A fused matrix (GPT-2's ``c_attn`` computing q|k|v) gets one A/B pair per enabled output slice; B writes into
that slice's columns only. ``merge`` folds B A into W and the wrapper then just calls the original module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api import (
    Layout,
    LowRankUpdate,
    Method,
    Target,
    bad_choice,
    bad_value,
    register_method,
    set_submodule,
)
from adaptbench.methods._common import (
    check_positive,
    check_targets,
    features,
    is_transposed,
    meta_model,
    n_layers,
)
from adaptbench.methods._wrap import wrap_targets

INITS = ("kaiming", "gaussian")
# attribute of a merged model holding the LoRA wrappers taken out of it, by module path
DETACHED = "_lora_detached"


@dataclass
class LoRAConfig:
    r: int = 8
    alpha: float = 8.0
    targets: list[str] = field(default_factory=lambda: ["q", "v"])
    dropout: float = 0.0
    init: str = "kaiming"
    # standard deviation of A under init=gaussian; None = 1/r (PEFT's "gaussian"); DeBERTa's code: 0.02
    init_std: float | None = None

    def __post_init__(self) -> None:
        check_positive("method.r", self.r)
        if self.alpha <= 0:
            raise bad_value("method.alpha", self.alpha, "must be > 0")
        if not 0 <= self.dropout < 1:
            raise bad_value("method.dropout", self.dropout, "must be in [0, 1)")
        if self.init not in INITS:
            raise bad_choice("method.init", self.init, INITS)
        if self.init_std is not None and self.init != "gaussian":
            raise bad_value("method.init_std", self.init_std, "is only read with method.init=gaussian")
        if self.init_std is not None and self.init_std <= 0:
            raise bad_value("method.init_std", self.init_std, "must be > 0")


class LoRABranch(nn.Module):
    """The low-rank update of one matrix (or one output slice): x -> scale · B A x (x already dropped out)."""

    def __init__(self, d_in: int, d_out: int, cfg: LoRAConfig, like: torch.Tensor):
        super().__init__()
        self.lora_A = nn.Parameter(torch.empty(cfg.r, d_in, device=like.device, dtype=like.dtype))
        self.lora_B = nn.Parameter(torch.zeros(d_out, cfg.r, device=like.device, dtype=like.dtype))
        self.scale = cfg.alpha / cfg.r
        if cfg.init == "kaiming":  # loralib / PEFT default: nn.Linear's own init of a r x d_in weight
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        else:
            nn.init.normal_(self.lora_A, std=cfg.init_std if cfg.init_std is not None else 1.0 / cfg.r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale

    def delta_weight(self) -> torch.Tensor:
        """scale · B A, shaped out x in."""
        return (self.lora_B @ self.lora_A) * self.scale


def join_spans(y: torch.Tensor, updated: dict[tuple[int, int], torch.Tensor]) -> torch.Tensor:
    """``y`` with its columns ``lo:hi`` (last dimension) replaced by ``updated[lo, hi]``: one ``torch.cat`` of the
    updated spans and ``y``'s other columns, out of place (``y`` itself may be held by the wrapped module's hooks).
    Its backward only slices the gradient; no update is ever widened (zero-padded) to ``y``'s full width. Spans
    are equal-width slices of one matrix, so they are disjoint."""
    pieces, at = [], 0
    for (lo, hi), part in sorted(updated.items()):
        if lo < at:
            raise ValueError(f"LoRA output spans overlap: {sorted(updated)}")
        if lo > at:
            pieces.append(y[..., at:lo])
        pieces.append(part)
        at = hi
    if at < y.shape[-1]:
        pieces.append(y[..., at:])
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)


class LoRAModule(nn.Module):
    """Wraps an nn.Linear or Conv1D: output = base(x) + the branches' updates in their output spans.

    The input is dropped out once and every branch reads that same x (loralib's ``MergedLinear``: one dropout
    mask for all enabled slices of a fused matrix)."""

    def __init__(self, base: nn.Module, targets: dict[str, Target], cfg: LoRAConfig):
        super().__init__()
        self.base = base
        d_in, self.d_out = features(base)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.spans: dict[str, tuple[int, int]] = {}
        self.lora = nn.ModuleDict()
        for name, t in targets.items():
            width = self.d_out // t.n_slices
            lo = (t.slice or 0) * width
            self.spans[name] = (lo, lo + width)
            self.lora[name] = LoRABranch(d_in, width, cfg, base.weight)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:  # W already holds W + scale·BA: no extra work
            return y
        x = self.dropout(x)
        # each update is added to its own columns only and freed at once (elementwise the same as adding it
        # zero-padded to the full width); on GPT-2's fused c_attn the q and v slices meet y's k columns in one cat
        updated: dict[tuple[int, int], torch.Tensor] = {}
        for name, branch in self.lora.items():
            lo, hi = span = self.spans[name]
            updated[span] = (updated[span] if span in updated else y[..., lo:hi]) + branch(x)
        return join_spans(y, updated)

    @torch.no_grad()
    def _fold(self, sign: float) -> None:
        w = self.base.weight
        for name, branch in self.lora.items():
            lo, hi = self.spans[name]
            dw = branch.delta_weight().to(w.dtype) * sign
            if is_transposed(self.base):
                w[:, lo:hi] += dw.T
            else:
                w[lo:hi, :] += dw

    def merge(self) -> None:
        if not self.merged:
            self._fold(1.0)
            self.merged = True

    def unmerge(self) -> None:
        if self.merged:
            self._fold(-1.0)
            self.merged = False


def target_dims(arch: PretrainedConfig, layout: Layout, name: str) -> tuple[int, int]:
    """(d_in, d_out) of one target matrix (one slice of a fused one), read off a meta build of the architecture:
    d x d for q and o, narrower k/v under grouped-query attention, d x d_ff for the FFN."""
    t = layout.target(name)
    d_in, d_out = features(layout.block_list(meta_model(arch))[0].get_submodule(t.path))
    return d_in, d_out // t.n_slices


def check_rank(r: int, arch: PretrainedConfig, layout: Layout, targets: list[str]) -> None:
    """A rank above min(d_in, d_out) of an adapted matrix adds parameters without adding rank (a huge one runs
    out of memory in the build): refuse it, naming the smallest matrix."""
    dims = {name: target_dims(arch, layout, name) for name in targets}
    smallest = min(dims, key=lambda name: min(dims[name]))
    limit = min(dims[smallest])
    if r > limit:
        d_in, d_out = dims[smallest]
        raise bad_value(
            "method.r",
            r,
            f"must be at most min(d_in, d_out) of the adapted matrices: at most {limit} "
            f"({smallest}: {d_in} x {d_out})",
        )


@register_method("lora")
class LoRA(Method):
    Config = LoRAConfig
    exports_to_peft = True  # A and B are PEFT's lora_A / lora_B, scaled by the same alpha/r

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        check_targets(self.cfg.targets, layout)
        check_rank(self.cfg.r, arch, layout, self.cfg.targets)

    def apply(self, model: nn.Module, layout: Layout) -> None:
        wrappers = wrap_targets(model, layout, self.cfg.targets, lambda m, ts: LoRAModule(m, ts, self.cfg))
        for w in wrappers:
            for p in w.lora.parameters():
                p.requires_grad_(True)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        """r·(d_in + d_out) per adapted matrix and block: 2·L̂_LoRA·d·r when all targets are d x d."""
        per_block = sum(sum(target_dims(arch, layout, t)) for t in self.cfg.targets)
        return n_layers(arch) * self.cfg.r * per_block

    def low_rank_updates(self, model: nn.Module) -> list[LowRankUpdate]:
        updates = []
        for path, m in model.named_modules():
            if not isinstance(m, LoRAModule):
                continue
            weight = m.base.weight.detach()
            weight = weight.T if is_transposed(m.base) else weight
            for name, branch in m.lora.items():
                lo, hi = m.spans[name]
                updates.append(
                    LowRankUpdate(
                        module=path,
                        target=name,
                        lora_A=branch.lora_A,
                        lora_B=branch.lora_B,
                        alpha=self.cfg.alpha,
                        dropout=self.cfg.dropout,
                        weight=weight[lo:hi],
                        whole=(hi - lo) == m.d_out,
                        transposed=is_transposed(m.base),
                    )
                )
        return updates

    def merge(self, model: nn.Module) -> None:
        """Fold every B A into its frozen weight and put the original module back in the wrapper's place: the
        merged model is the base architecture itself (same modules, same latency)."""
        detached = getattr(model, DETACHED, {})
        for path, m in list(model.named_modules()):
            if isinstance(m, LoRAModule):
                m.merge()
                set_submodule(model, path, m.base)
                detached[path] = m
        # kept outside the module tree (a plain dict attribute), so it is neither a submodule nor in state_dict
        object.__setattr__(model, DETACHED, detached)

    def unmerge(self, model: nn.Module) -> None:
        """Re-insert the wrappers and subtract B A again (for more training or saving A and B)."""
        for path, m in getattr(model, DETACHED, {}).items():
            set_submodule(model, path, m)
            m.unmerge()
        object.__setattr__(model, DETACHED, {})
