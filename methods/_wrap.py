"""Replace target Linear/Conv1D modules of each block by a wrapper, through the Layout only."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import nn

from adaptbench.harness.api import Layout, Target, set_submodule


def wrap_targets(
    model: nn.Module,
    layout: Layout,
    names: Iterable[str],
    make: Callable[[nn.Module, dict[str, Target]], nn.Module],
    blocks: Iterable[int] | None = None,
) -> list[nn.Module]:
    """Wrap the modules behind target ``names`` in the chosen ``blocks`` (default: all).

    Targets sharing one module (GPT-2's q/k/v slices of ``c_attn``) are grouped, so ``make(module, {name:
    Target})`` is called once per module with all of its targets. Returns the wrappers in block order.
    """
    block_list = layout.block_list(model)
    chosen = range(len(block_list)) if blocks is None else blocks
    by_path: dict[str, dict[str, Target]] = {}
    for name in names:
        t = layout.target(name)
        by_path.setdefault(t.path, {})[name] = t
    wrappers = []
    for i in chosen:
        block = block_list[i]
        for path, targets in by_path.items():
            wrapper = make(block.get_submodule(path), targets)
            set_submodule(block, path, wrapper)
            wrappers.append(wrapper)
    return wrappers
