"""Every tuner of huggingface/peft as an adaptbench method: ``method=peft method.peft_type=IA3`` or one YAML per
tuner (``peft_dora``, ``peft_ia3``, ...; ``plugin: peft``).

PEFT's own tuner class (``LoraModel``, ``IA3Model``, ...) injects its layers into the harness's model in place
(what ``peft.inject_adapter_in_model`` does, keeping the tuner object for AdaLoRA's rank schedule and merging),
so the model stays the model the runner built and every harness feature works on it unchanged. The task head is
not PEFT's ``modules_to_save``: it trains as the harness trains every method's head (unfrozen by ``adapt``,
outside |Θ|), which is the same function and the same count as PEFT's copy of it.

- targets: the family layout's names (q, v, ffn_in, ...) become the full module names PEFT matches, so one
  ``method.targets=[q,v]`` works on BERT, RoBERTa, GPT-2 and Llama. PEFT adapts whole modules: a target that is
  one slice of a fused matrix (GPT-2's q in ``c_attn``) adapts the whole fused module (q, k and v), as PEFT does
  on GPT-2 (its own default there is ``c_attn``); a line on the log says so. ``layernorms`` names every block's
  LayerNorms (LN tuning).
- settings: ``method.peft_config`` is passed to PEFT's config dataclass of ``peft_type``; unknown keys fail in
  one line naming its fields, and PEFT's own value checks run when the YAML node is read. Keys the harness sets
  (target_modules, task_type, modules_to_save, ...) are refused.
- prompt tuning (Lester et al. 2021) is not a module to inject: PEFT's ``PeftModel`` concatenates the prompt in
  its own forward. Here its PEFT ``PromptEmbedding`` (same init) becomes the harness's virtual tokens
  (``methods/virtual_tokens.py``): n positions inserted before the first token, where PEFT puts them (before
  [CLS] too), looked up in the trainable table. Other prompt-learning tuners (prefix tuning, P-tuning, ...)
  change attention's keys/values or need an encoder: refused with the supported choices.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, TrainerCallback

from adaptbench.harness.api import (
    ConfigError,
    Layout,
    LowRankUpdate,
    Method,
    bad_choice,
    bad_value,
    register_method,
    set_submodule,
)
from adaptbench.methods._common import (
    check_positive,
    features,
    hidden_size,
    is_transposed,
    meta_model,
)
from adaptbench.methods.virtual_tokens import (
    ATTR as VIRTUAL_TOKENS,
)
from adaptbench.methods.virtual_tokens import (
    VirtualTokens,
    insert_virtual_tokens,
    positions_left,
)

log = logging.getLogger("adaptbench")

PROMPT_TUNING = "PROMPT_TUNING"
LAYERNORMS = "layernorms"  # target name: every block's LayerNorms (the layout's ``layernorms``)
# PEFT config fields the harness sets itself: they are not the user's to choose (the head is the harness's)
HARNESS_SET = (
    "peft_type",
    "task_type",
    "target_modules",
    "modules_to_save",
    "base_model_name_or_path",
    "revision",
    "inference_mode",
    "auto_mapping",
    "token_dim",
    "num_transformer_submodules",
    "num_attention_heads",
    "num_layers",
    "save_projection",
)
# Set by the harness where PEFT's config has the field: VeRA's frozen random projections are shared by every
# layer, and a Trainer checkpoint (safetensors) refuses tensors saved under several names. They are not saved;
# PEFT regenerates them from ``projection_prng_key`` when the model is built again (resume, init_from).
HARNESS_VALUES = {"save_projection": False}
# PEFT settings that name modules: given as layout target names, translated like ``targets``
MODULE_SETTINGS = ("feedforward_modules",)
# attributes of a model the harness adapted: the PEFT tuner object (outside the module tree) and, once merged,
# the tuner layers taken out of it by module path
TUNER = "_peft_tuner"
DETACHED = "_peft_detached"
# attribute of an adapted model: module path -> the layout's name for it (``target_labels``)
TARGET_LABELS = "_peft_target_labels"


def tuner_classes() -> dict[str, type]:
    """PEFT type -> its tuner class, for the tuners that inject into modules in place."""
    from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
    from peft.tuners.tuners_utils import BaseTuner

    return {
        str(k.value if hasattr(k, "value") else k): v
        for k, v in PEFT_TYPE_TO_TUNER_MAPPING.items()
        if isinstance(v, type) and issubclass(v, BaseTuner)
    }


def config_class(peft_type: str) -> type:
    from peft import PEFT_TYPE_TO_CONFIG_MAPPING

    return PEFT_TYPE_TO_CONFIG_MAPPING[peft_type]


def supported_types() -> list[str]:
    """Every in-place tuner that is not prompt learning (those change the forward itself), and prompt tuning."""
    from peft.config import PromptLearningConfig

    types = [t for t in tuner_classes() if not issubclass(config_class(t), PromptLearningConfig)]
    # wrap the model's forward, a mixture of adapters, or new rows of the token embedding (not a layout target)
    excluded = {"ADAPTION_PROMPT", "XLORA", "SHADOW", "TRAINABLE_TOKENS"}
    return sorted({*types, PROMPT_TUNING} - excluded)


def settable_fields(peft_type: str) -> list[str]:
    """The fields of PEFT's config dataclass the user may set (init fields, less what the harness sets)."""
    return sorted(
        f.name
        for f in dataclasses.fields(config_class(peft_type))
        if f.init and not f.name.startswith("_") and f.name not in HARNESS_SET
    )


def make_peft_config(
    peft_type: str, settings: Mapping, target_modules: list[str] | None, **extra: Any
) -> Any:
    """PEFT's config object; its own ``__post_init__`` checks become one-line ConfigErrors."""
    fields = {f.name for f in dataclasses.fields(config_class(peft_type))}
    values = {**{k: v for k, v in HARNESS_VALUES.items() if k in fields}, **settings, **extra}
    if target_modules is not None:
        values["target_modules"] = target_modules
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return config_class(peft_type)(**values)
    except (ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"method.peft_config for PEFT {peft_type}: {first}") from None


@dataclass
class PeftTunerConfig:
    """``peft_type``: a PEFT type (LORA, IA3, VERA, ...); ``targets``: layout names; ``peft_config``: the other
    fields of PEFT's config of that type."""

    peft_type: str = "LORA"
    targets: list[str] = field(default_factory=lambda: ["q", "v"])
    peft_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.peft_type = str(self.peft_type).upper()
        if self.peft_type not in supported_types():
            raise bad_choice("method.peft_type", self.peft_type, supported_types())
        valid = settable_fields(self.peft_type)
        for key in self.peft_config:
            if key in HARNESS_SET:
                raise ConfigError(
                    f"method.peft_config.{key} is set by the harness (from method.targets, the task and the "
                    f"model); valid keys for PEFT {self.peft_type}: {', '.join(valid)}"
                )
            if key not in valid:
                raise ConfigError(
                    f"method.peft_config.{key} is not a field of PEFT's {config_class(self.peft_type).__name__}; "
                    f"valid keys: {', '.join(valid)}"
                )
        if self.peft_type == PROMPT_TUNING:
            check_positive("method.peft_config.num_virtual_tokens", self.n_virtual)
            make_peft_config(self.peft_type, self.peft_config, None)
        else:
            if not self.targets:
                raise bad_value("method.targets", self.targets, "name at least one target")
            # names stand in for module paths: PEFT's checks (e.g. IA3's feedforward_modules within target_modules)
            make_peft_config(self.peft_type, self.peft_config, list(self.targets))

    @property
    def n_virtual(self) -> int:
        return int(self.peft_config.get("num_virtual_tokens") or 0)


# ---------------------------------------------------------------------------------------------- targets
def target_modules(model: nn.Module, layout: Layout, names: list[str]) -> list[nn.Module]:
    """The modules of every block behind layout target ``names`` (each once: q and v of GPT-2 are one c_attn)."""
    found: dict[int, nn.Module] = {}
    for block in layout.block_list(model):
        for name in names:
            paths = layout.layernorms if name == LAYERNORMS else (layout.target(name).path,)
            for path in paths:
                module = block.get_submodule(path)
                found.setdefault(id(module), module)
    return list(found.values())


def module_names(model: nn.Module, modules: list[nn.Module]) -> list[str]:
    """Full names in ``model`` of ``modules``: PEFT matches them exactly (a bare ``output.dense`` would also
    match BERT's ``attention.output.dense``)."""
    wanted = {id(m) for m in modules}
    return [name for name, m in model.named_modules() if id(m) in wanted]


def target_labels(model: nn.Module, layout: Layout, names: list[str]) -> dict[str, str]:
    """Module path -> the layout's name for the module behind each of ``names``: the target itself, or for a fused
    module, which PEFT adapts whole, every name sharing it joined by "+" (GPT-2's ``c_attn``: ``q+k+v``)."""
    sharing: dict[int, list[str]] = {}
    for name in layout.targets:
        for module in target_modules(model, layout, [name]):
            sharing.setdefault(id(module), []).append(name)
    wanted = {id(m) for m in target_modules(model, layout, [n for n in names if n != LAYERNORMS])}
    return {path: "+".join(sharing[id(m)]) for path, m in model.named_modules() if id(m) in wanted}


def check_targets(names: list[str], layout: Layout) -> None:
    if len(set(names)) != len(names):
        raise bad_value("method.targets", names, "each target at most once")
    for name in names:
        if name == LAYERNORMS:
            if not layout.layernorms:
                raise bad_value("method.targets", names, "this model's layout lists no layernorms")
        elif name not in layout.targets:
            raise bad_choice("method.targets", name, [*sorted(layout.targets), LAYERNORMS])


def fused_note(names: list[str], layout: Layout) -> str | None:
    """What a slice target means under PEFT (the whole fused module), or None."""
    fused = sorted(
        {layout.target(n).path for n in names if n != LAYERNORMS and layout.target(n).n_slices > 1}
    )
    if not fused:
        return None
    sharing = [n for n, t in layout.targets.items() if t.path in fused]
    return (
        f"method.targets {', '.join(names)}: PEFT adapts whole modules, so the fused {', '.join(fused)} is adapted "
        f"whole ({', '.join(sharing)})"
    )


# ---------------------------------------------------------------------------------------------- tuners
def inject(model: nn.Module, config: Any, peft_type: str) -> Any:
    """PEFT's tuner for ``peft_type`` built on ``model``: its layers replace the targets in place. Parameters
    PEFT lists as a layer's non-trainable ones (AdaLoRA's ``ranknum``) are frozen again: built on the meta device
    they come back trainable."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fan_in_fan_out is set to False but the target module is Conv1D"
        tuner = tuner_classes()[peft_type](model, config, "default")
    for layer in model.modules():
        if isinstance(layer, BaseTunerLayer):
            for name in layer.other_param_names:
                value = getattr(layer, name, None)
                if isinstance(value, (nn.ParameterDict, nn.Parameter)):
                    value.requires_grad_(False)
    return tuner


def tuner_layers(model: nn.Module) -> dict[str, nn.Module]:
    """PEFT's outermost tuner layers by module path."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers: dict[str, nn.Module] = {}
    for path, m in model.named_modules():
        if isinstance(m, BaseTunerLayer) and not any(path.startswith(p + ".") for p in layers):
            layers[path] = m
    return layers


def unique_trainable(model: nn.Module) -> int:
    """Trainable parameters of PEFT's tuner layers, each tensor once (TinyLoRA, UniLoRA share one across layers)."""
    seen: dict[int, int] = {}
    for layer in tuner_layers(model).values():
        for p in layer.parameters():
            if p.requires_grad:
                seen[id(p)] = p.numel()
    return sum(seen.values())


def orthogonal_regularisation(tuner: Any, model: nn.Module) -> Callable | None:
    """AdaLoRA adds ``orth_reg_weight · mean ||P Pᵀ − I||_F`` to the loss in ``AdaLoraModel.forward``, which the
    harness does not call (it calls the model): a forward hook adds the same term to ``outputs.loss``."""
    weight = float(getattr(tuner.peft_config["default"], "orth_reg_weight", 0.0) or 0.0)
    if not hasattr(tuner, "update_and_allocate") or weight == 0:
        return None

    def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        loss = getattr(output, "loss", None)
        if not isinstance(loss, torch.Tensor):
            return output
        terms = []
        for name, p in model.named_parameters():
            if ("lora_A" in name or "lora_B" in name) and "default" in name:
                cov = p @ p.T if "lora_A" in name else p.T @ p
                terms.append(torch.norm(cov - torch.eye(*cov.shape, device=cov.device, dtype=cov.dtype)))
        if terms:
            output.loss = loss + weight * torch.stack(terms).mean()
        return output

    return model.register_forward_hook(hook, with_kwargs=True)


class RankSchedule(TrainerCallback):
    """Calls the tuner's ``update_and_allocate(step)`` after each optimizer step, before the gradients are zeroed
    (AdaLoRA's importance scores read them): PEFT's training loop does this by hand."""

    def __init__(self, tuner: Any) -> None:
        self.tuner = tuner

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.tuner.update_and_allocate(state.global_step)


# ---------------------------------------------------------------------------------------------- |Θ| formulas
def _lora(c: Any, d_in: int, d_out: int) -> int:
    """r·(d_in + d_out), plus DoRA's magnitude vector (d_out)."""
    return c.r * (d_in + d_out) + (d_out if c.use_dora else 0)


def _adalora(c: Any, d_in: int, d_out: int) -> int:
    """P (r × d_in), Q (d_out × r) and the singular values Λ (r) at the initial rank."""
    return c.init_r * (d_in + d_out + 1)


def _vera(c: Any, d_in: int, d_out: int) -> int:
    """λ_d (r) and λ_b (d_out); the random A and B are shared frozen buffers."""
    return c.r + d_out


def _loha(c: Any, d_in: int, d_out: int) -> int:
    """Two rank-r Hadamard factors: 2·r·(d_in + d_out)."""
    return 2 * c.r * (d_in + d_out)


def _fourierft(c: Any, d_in: int, d_out: int) -> int:
    """n spectral coefficients per matrix."""
    return c.n_frequency


FORMULAS: dict[str, Callable[[Any, int, int], int]] = {
    "LORA": _lora,
    "ADALORA": _adalora,
    "VERA": _vera,
    "LOHA": _loha,
    "FOURIERFT": _fourierft,
}


def _ia3(c: Any, d_in: int, d_out: int, feedforward: bool) -> int:
    """One scaling vector: of the input (d_in) for feedforward modules, of the output (d_out) otherwise."""
    return d_in if feedforward else d_out


@register_method("peft")
class PeftTuner(Method):
    Config = PeftTunerConfig
    exports_to_peft = True  # through PEFT's own model and save (``peft_model``)
    width_key = "peft_config.r"  # the tuner's own rank (LoRA/DoRA, VeRA, AdaLoRA, LoHa, ...)

    @property
    def is_prompt(self) -> bool:
        return self.cfg.peft_type == PROMPT_TUNING

    def peft_config(self, model: nn.Module, layout: Layout, **extra: Any) -> Any:
        """PEFT's config for this model: targets and module settings as the model's module names (prompt tuning:
        none), and the ``extra`` fields."""
        if self.is_prompt:
            return make_peft_config(PROMPT_TUNING, self.cfg.peft_config, None, **extra)
        settings = dict(self.cfg.peft_config)
        for key in MODULE_SETTINGS:
            if key in settings and settings[key] is not None:
                settings[key] = module_names(model, target_modules(model, layout, list(settings[key])))
        names = module_names(model, target_modules(model, layout, self.cfg.targets))
        return make_peft_config(self.cfg.peft_type, settings, names, **extra)

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        """Targets and module settings from the layout; then PEFT injects into a meta build of the architecture,
        so a tuner that cannot adapt this model fails here in one line, before anything is built or trained."""
        if self.is_prompt:
            return
        check_targets(self.cfg.targets, layout)
        for key in MODULE_SETTINGS:
            check_targets(list(self.cfg.peft_config.get(key) or []), layout)
        if note := fused_note(self.cfg.targets, layout):
            log.warning("%s", note)
        model = copy.deepcopy(meta_model(arch))
        refused = (
            f"method.peft_type={self.cfg.peft_type} cannot adapt model type {arch.model_type!r} "
            f"(targets {', '.join(self.cfg.targets)})"
        )
        try:
            inject(model, self.peft_config(model, layout), self.cfg.peft_type)
        except (
            Exception
        ) as err:  # whatever PEFT raises for this model (its checks differ per tuner): one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if "meta tensor" in first:  # the tuner reads W's values when it is injected (an SVD, a copy)
                first += (
                    " (it initialises from the weights' values, which the check before building cannot read)"
                )
            raise ConfigError(f"{refused}: PEFT: {first}") from None
        if not unique_trainable(model):
            raise ConfigError(f"{refused}: PEFT injected nothing that trains")

    def apply(self, model: nn.Module, layout: Layout) -> None:
        if self.is_prompt:
            self._attach_prompt(model, layout)
            return
        labels = target_labels(model, layout, self.cfg.targets)  # before PEFT replaces the modules
        tuner = inject(model, self.peft_config(model, layout), self.cfg.peft_type)
        object.__setattr__(model, TUNER, tuner)  # not a submodule: the tuner holds the model itself
        object.__setattr__(model, TARGET_LABELS, labels)
        orthogonal_regularisation(tuner, model)

    def _attach_prompt(self, model: nn.Module, layout: Layout) -> None:
        """PEFT's PromptEmbedding (its init: RANDOM, SAMPLE_VOCAB or TEXT) as the vectors of n virtual tokens."""
        from peft.tuners.prompt_tuning import PromptEmbedding

        embedding = layout.embedding(model)
        config = make_peft_config(
            PROMPT_TUNING,
            self.cfg.peft_config,
            None,
            token_dim=embedding.weight.shape[1],
            num_transformer_submodules=1,
        )
        with torch.device(embedding.weight.device):
            vectors = PromptEmbedding(config, embedding).embedding.weight.detach()
        tokens = VirtualTokens(embedding.weight.shape[0], vectors.to(embedding.weight.dtype).clone(), None)
        model.base_model.add_module(VIRTUAL_TOKENS, tokens)
        tokens.hook_into(model, layout)
        tokens.requires_grad_(True)

    def input_length(self, max_seq_len: int) -> int:
        return positions_left(max_seq_len, self.cfg.n_virtual, 0) if self.is_prompt else max_seq_len

    def example_transform(
        self, tokenizer: Any, task_kind: str, vocab_size: int
    ) -> Callable[[dict], dict] | None:
        if not self.is_prompt:
            return None
        n = self.cfg.n_virtual  # before every token, [CLS] included: where PEFT's PeftModel puts the prompt
        return lambda ex: insert_virtual_tokens(ex, n, 0, vocab_size, 0)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        """The tuner's paper formula per adapted matrix where it has one (LoRA/DoRA, AdaLoRA, IA3, VeRA, LoHa,
        FourierFT; prompt tuning: n·d), summed over the adapted modules of a meta build; otherwise (LoKr, OFT,
        BOFT, LN tuning, ...) the count of PEFT's own trainable tensors injected into that meta build."""
        if self.is_prompt:
            return self.cfg.n_virtual * hidden_size(arch)
        model = copy.deepcopy(meta_model(arch))
        config = self.peft_config(model, layout)
        formula = FORMULAS.get(self.cfg.peft_type)
        if self.cfg.peft_type == "IA3" or formula is not None:
            feedforward = set(config.feedforward_modules or ()) if self.cfg.peft_type == "IA3" else set()
            total = 0
            for name, module in model.named_modules():
                if name in set(config.target_modules):
                    d_in, d_out = features(module)
                    total += (
                        _ia3(config, d_in, d_out, name in feedforward)
                        if formula is None
                        else formula(config, d_in, d_out)
                    )
            return total
        inject(model, config, self.cfg.peft_type)
        return unique_trainable(model)

    def training_callbacks(self, model: nn.Module) -> list[TrainerCallback]:
        """AdaLoRA's rank schedule (any tuner with ``update_and_allocate``)."""
        tuner = getattr(model, TUNER, None)
        return [RankSchedule(tuner)] if hasattr(tuner, "update_and_allocate") else []

    def peft_model(
        self,
        model: nn.Module,
        build_base: Callable[[], nn.Module],
        layout: Layout,
        fields: Mapping[str, Any],
    ) -> Any:
        """PEFT's ``get_peft_model`` of a fresh base with this run's config, holding ``model``'s trained tensors: the
        head is copied into the base first (PEFT's ``modules_to_save`` copies it when it wraps), each tuner layer's
        state into PEFT's layer at the same path (the same class and adapter name), prompt tuning's vectors into
        PEFT's prompt encoder."""
        from peft import get_peft_model

        base = build_base()
        with torch.no_grad():
            for name in fields.get("modules_to_save") or ():
                base.get_submodule(name).load_state_dict(model.get_submodule(name).state_dict())
        config = self.peft_config(base, layout, **fields)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wrapped = get_peft_model(base, config)
        # get_peft_model writes the base's own name_or_path (a local folder, or nothing for random weights)
        wrapped.peft_config["default"].base_model_name_or_path = fields.get("base_model_name_or_path")
        with torch.no_grad():
            if self.is_prompt:
                vectors = getattr(model.base_model, VIRTUAL_TOKENS).embed
                wrapped.prompt_encoder["default"].embedding.weight.copy_(vectors)
            else:
                ours, theirs = tuner_layers(model), tuner_layers(wrapped.base_model.model)
                if set(ours) != set(theirs):  # the same config on the same architecture: a harness bug
                    raise RuntimeError(f"PEFT adapted {sorted(theirs)}, the run {sorted(ours)}")
                for path, layer in ours.items():
                    theirs[path].load_state_dict(layer.state_dict())
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        exported, _ = wrapped.get_nb_trainable_parameters()
        if exported != trained:
            raise RuntimeError(f"PEFT's model trains {exported} parameters, the run trained {trained}")
        return wrapped.eval()

    def low_rank_updates(self, model: nn.Module) -> list[LowRankUpdate]:
        """PEFT's plain LoRA layers as ΔW = scaling · B A (for ``adaptbench analyze``): ``alpha`` is scaling · r, so
        rsLoRA's lora_alpha/√r is kept. DoRA, a LoRA bias and AdaLoRA's SVD form are not B A alone: none. A fused
        module is adapted whole, so its update covers every name sharing it (``q+k+v``)."""
        from peft.tuners.lora import LoraLayer

        if self.cfg.peft_type != "LORA":
            return []
        tuner, labels = getattr(model, TUNER, None), getattr(model, TARGET_LABELS, {})
        dropout = float(tuner.peft_config["default"].lora_dropout) if tuner is not None else 0.0
        updates = []
        for path, layer in tuner_layers(model).items():
            plain = (
                type(layer).__module__.startswith("peft.tuners.lora.")  # not AdaLoRA's subclass
                and isinstance(layer, LoraLayer)
                and "default" in layer.lora_A
                and isinstance(layer.lora_A["default"], nn.Linear)  # not an embedding or convolution
                and not layer.use_dora.get("default")
                and getattr(layer, "lora_variant", {}).get("default") is None  # DoRA, aLoRA, Arrow
                and not getattr(layer, "lora_bias", {}).get("default")
            )
            if not plain:
                continue
            base = layer.get_base_layer()
            weight = base.weight.detach()
            a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
            updates.append(
                LowRankUpdate(
                    module=path,
                    target=labels.get(path, path.rsplit(".", 1)[-1]),
                    lora_A=a,
                    lora_B=b,
                    alpha=float(layer.scaling["default"]) * a.shape[0],
                    dropout=dropout,
                    weight=weight.T if is_transposed(base) else weight,
                    whole=True,
                    transposed=is_transposed(base),
                )
            )
        return updates

    def merge(self, model: nn.Module) -> None:
        """Fold every tuner layer into its base weight (PEFT's ``merge``) and put the base module back in its place:
        the merged model is the base architecture (prompt tuning has nothing to merge)."""
        detached = getattr(model, DETACHED, {})
        for path, layer in tuner_layers(model).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                layer.merge()
            set_submodule(model, path, layer.get_base_layer())
            detached[path] = layer
        object.__setattr__(model, DETACHED, detached)

    def unmerge(self, model: nn.Module) -> None:
        for path, layer in getattr(model, DETACHED, {}).items():
            set_submodule(model, path, layer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # IA3: "Unmerge result can be inaccurate"
                layer.unmerge()
        object.__setattr__(model, DETACHED, {})
