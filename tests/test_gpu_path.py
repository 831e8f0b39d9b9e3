"""What the GPU path needs and a CPU run cannot see, checked on the CPU: every method's new tensors on the
model's device (the ``meta`` device stands in for a GPU: a tensor made on the CPU there is caught at once), the
autocast dtype of each ``trainer.precision`` as the Trainer applies it, and the latency timer waiting for the
GPU (``torch.cuda.synchronize``) around every timed forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _methods_util import METHOD_CASES, NOT_SUPPORTED, TINY, compose_cfg
from torch import nn

from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import build_model
from adaptbench.harness.api.plugins import adapt
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.config.validate import validate_trainer
from adaptbench.harness.measure import timing as latency_measure
from adaptbench.harness.run import job as runner
from adaptbench.harness.run.training import training_arguments

KIND = {"tiny-gpt2": "generation"}
# Tensors PEFT keeps where these tests do not look for them, and moves to the weights' device itself at every
# forward (so they are right on a GPU): BOFT's permutation buffer is made on the CPU
# (peft/tuners/boft/layer.py: ``self.boft_P.to(block_diagonal_butterfly.device)``), FourierFT's spectrum indices
# sit in a plain dict (peft/tuners/fourierft/layer.py: ``self.indices[adapter].to(spectrum.device)``).
MOVED_BY_PEFT_AT_USE = {"peft_boft": ".boft_P", "peft_fourierft": ".indices"}


def skip_unsupported(method: str, model_name: str) -> None:
    if model_name in NOT_SUPPORTED.get(method, ()):
        pytest.skip(
            f"PEFT's {method} does not support {model_name} (refused in one line; tests/test_peft_tuners.py)"
        )


def unexplained(method: str, names: list[str]) -> list[str]:
    """``names`` less the ones PEFT itself moves at use (``MOVED_BY_PEFT_AT_USE``)."""
    suffix = MOVED_BY_PEFT_AT_USE.get(method)
    return [n for n in names if not (suffix and n.endswith(suffix))]


def tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


@pytest.mark.parametrize("model_name", TINY)
@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_new_tensors_are_made_on_the_models_device(method: str, model_name: str) -> None:
    """A model already on a device (here ``meta``, outside any device context) adapted in place: every tensor
    the method adds is on that device too, not on the CPU."""
    skip_unsupported(method, model_name)
    cfg = compose_cfg(model_name, method, METHOD_CASES[method])
    model = build_model(cfg.model, KIND.get(model_name, "classification"), 2, device="meta")
    before = set(tensors(model))
    plugin = load_method(cfg.method)
    layout = Layout.from_config(cfg.model.layout)
    plugin.validate(model.config, layout)
    adapt(model, plugin, layout)
    on_cpu = sorted(name for name, t in tensors(model).items() if t.device.type != "meta")
    assert not unexplained(method, on_cpu), f"{method} on {model_name}: made on the CPU: {on_cpu[:5]}"
    assert set(tensors(model)) != before or method in ("full", "fttop2", "bitfit", "linear_probe")


def stray_tensors(model: nn.Module) -> list[str]:
    """Tensors a module keeps outside its parameters and buffers (a plain attribute, or in a list, tuple or dict
    attribute): ``model.to(device)`` leaves them where they are."""
    found = []
    for module_name, module in model.named_modules():
        for attr, value in vars(module).items():
            if attr in ("_parameters", "_buffers", "_modules"):
                continue
            values = (
                value.values()
                if isinstance(value, dict)
                else value
                if isinstance(value, (list, tuple))
                else [value]
            )
            if any(isinstance(v, torch.Tensor) for v in values):
                found.append(f"{module_name}.{attr}")
    return found


@pytest.mark.parametrize("model_name", TINY)
@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_a_device_move_takes_every_tensor_along(method: str, model_name: str) -> None:
    """Built and adapted on the CPU, then ``model.to(device)`` as the runner does: every tensor moves, and no
    module keeps one outside its parameters and buffers (it would stay on the CPU beside a GPU model)."""
    skip_unsupported(method, model_name)
    cfg = compose_cfg(model_name, method, METHOD_CASES[method])
    torch.manual_seed(0)
    model = build_model(cfg.model, KIND.get(model_name, "classification"), 2)
    layout = Layout.from_config(cfg.model.layout)
    adapt(model, load_method(cfg.method), layout)
    assert unexplained(method, stray_tensors(model)) == []
    model.to("meta")
    assert all(t.device.type == "meta" for t in tensors(model).values())


def test_stray_tensor_check_catches_a_plain_attribute() -> None:
    layer = nn.Linear(2, 2)
    layer.scale = torch.ones(1)
    layer.cache = {"mask": torch.ones(2)}
    assert stray_tensors(nn.Sequential(layer)) == ["0.scale", "0.cache"]


# ------------------------------------------------------------------------------------------ precision
PRECISION_DTYPE = {"fp32": None, "bf16": torch.bfloat16}


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_precision_maps_to_the_trainers_mixed_precision(precision: str, tmp_path: Path) -> None:
    cfg = compose_run_config(
        ["model=tiny-bert", "task=vader", "trainer=tiny", f"trainer.precision={precision}"]
    )
    trainer = validate_trainer(cfg.trainer)
    trainer.lr = 1e-3
    # the device only decides use_cpu; fp16 is checked as the arguments a GPU run gets
    device = torch.device("cuda" if precision == "fp16" else "cpu")
    try:
        args = training_arguments(trainer, tmp_path, 0, device)
    except (ValueError, RuntimeError) as err:  # transformers refusing fp16 without a GPU
        pytest.skip(f"TrainingArguments(fp16=True) needs a GPU here: {err}")
    assert (args.fp16, args.bf16) == (precision == "fp16", precision == "bf16")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_forward_runs_under_the_precisions_autocast(
    precision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny run: the model's training forward passes see autocast on with the precision's dtype (bf16), or
    off (fp32), as the Trainer (through accelerate) applies it -- the same path as on a GPU, with cpu for cuda."""
    seen: list[tuple[bool, torch.dtype]] = []
    build = runner.build

    def spying_build(job):
        built = build(job)

        def hook(module, args, kwargs):
            if module.training:
                seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))

        # inside the model: accelerate enters autocast in the wrapped ``forward``, after the model's own hooks
        first_linear = next(m for m in built.model.modules() if isinstance(m, nn.Linear))
        first_linear.register_forward_pre_hook(hook, with_kwargs=True)
        return built

    monkeypatch.setattr(runner, "build", spying_build)
    cfg = compose_run_config(
        [
            "model=tiny-bert",
            "task=vader",
            "trainer=tiny",
            "method=lora",
            "trainer.max_steps=2",
            f"trainer.precision={precision}",
            "trainer.save_trainable=false",
            f"output_root={tmp_path}",
        ]
    )
    runner.run(cfg)
    assert len(seen) == 2  # one forward per training step
    expected = PRECISION_DTYPE[precision]
    for enabled, dtype in seen:
        assert enabled == (expected is not None)
        if expected is not None:
            assert dtype == expected


def test_fp16_on_the_cpu_is_refused_before_work(tmp_path: Path) -> None:
    from adaptbench.harness.api.errors import ConfigError

    cfg = compose_run_config(
        ["model=tiny-bert", "task=vader", "trainer=tiny", "trainer.precision=fp16", "device=cpu"]
        + [f"output_root={tmp_path}"]
    )
    with pytest.raises(ConfigError, match="^trainer.precision='fp16' needs a GPU; on the CPU choose one of"):
        runner.build(runner.plan_job(cfg))


# --------------------------------------------------------------------------------------------- latency
class Counting(nn.Module):
    def __init__(self, events: list[str], name: str) -> None:
        super().__init__()
        self.events, self.name = events, name

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.events.append(self.name)
        return input_ids


@pytest.mark.parametrize("device_type", ["cuda", "cpu"])
def test_latency_timer_synchronizes_around_every_timed_pass_on_cuda(
    device_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append(f"sync:{device}"))
    ticks = iter(range(10_000))
    monkeypatch.setattr(latency_measure.time, "perf_counter", lambda: float(next(ticks)))
    runs = {
        "base": (Counting(events, "base"), torch.zeros(1)),
        "method": (Counting(events, "method"), torch.zeros(1)),
    }
    device = torch.device(device_type, 0) if device_type == "cuda" else torch.device("cpu")
    times = latency_measure.time_interleaved(runs, trials=3, warmup=1, device=device)
    assert {name: len(t) for name, t in times.items()} == {"base": 3, "method": 3}
    if device_type == "cpu":
        assert events == ["base", "method"] * 4
    else:
        # the clock starts after the queue is empty and stops once the pass has finished on the device
        sync = f"sync:{device}"
        assert events == [sync, "base", sync, sync, "method", sync] * 4


def test_bf16_on_a_cpu_without_native_bf16_warns_once_naming_fp32(monkeypatch):
    """oneDNN emulates bf16 on CPUs without AVX512-BF16/AMX (measured ~10x slower than fp32 on an AVX2 EPYC)."""
    import torch

    from adaptbench.harness.run.plan import emulated_bf16_warning

    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    warning = emulated_bf16_warning(cpu, "bf16")
    assert warning is not None and "trainer.precision=fp32" in warning and "\n" not in warning
    assert emulated_bf16_warning(cpu, "fp32") is None
    assert emulated_bf16_warning(torch.device("cuda"), "bf16") is None
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert emulated_bf16_warning(cpu, "bf16") is None
