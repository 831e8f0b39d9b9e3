"""``adaptbench analyze``: the paper's Section 7 analyses (subspace similarity, amplification) of LoRA runs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file
from transformers import set_seed

from adaptbench.harness import cli
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import build_model
from adaptbench.harness.api.plugins import adapt
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.measure.analyze import amplification, subspace_similarity
from adaptbench.harness.records.store import artifacts_dir, record_path, write_json_atomic
from adaptbench.harness.run.job import run
from adaptbench.harness.run.tensors import save_trainable
from adaptbench.methods.lora import LoRABranch, LoRAConfig

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora", "trainer.max_steps=2"]


def orthonormal(rows: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(rows, rows, generator=torch.Generator().manual_seed(seed)).double())
    return q


# ------------------------------------------------------------------------------------- synthetic matrices
def test_identical_subspaces_give_one_everywhere():
    a = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(subspace_similarity(a, a), torch.ones(4, 4, dtype=torch.float64))
    # another basis of the same row space: the full spans coincide, so φ(r, r) = 1
    mixed = torch.tensor([[2.0, 1, 0, 0], [0, 1, 3, 0], [1, 0, 0, 1], [0, 0, 1, 5]]) @ a
    assert subspace_similarity(a, mixed)[3, 3].item() == pytest.approx(1.0)


def test_orthogonal_subspaces_give_zero():
    basis = orthonormal(16, 1)
    a, b = basis[:4].float(), basis[4:12].float()  # rows: A spans 4 directions, B 8 others
    grid = subspace_similarity(a * 3, b)
    assert grid.shape == (4, 8)
    assert torch.allclose(grid, torch.zeros(4, 8, dtype=torch.float64), atol=1e-12)


def test_a_known_angle():
    """A's top direction e0 (then e1), B's one direction at angle θ from e0 in the (e0, e2) plane: φ(1, 1) =
    φ(2, 1) = cos²θ (the top-2 of A, e0 and e1, see B's direction only through e0)."""
    theta = 0.4
    e = torch.eye(6, dtype=torch.float64)
    a = torch.stack([2 * e[0], e[1]])
    b = (math.cos(theta) * e[0] + math.sin(theta) * e[2])[None, :]
    grid = subspace_similarity(a, b)
    assert grid[:, 0].tolist() == pytest.approx([math.cos(theta) ** 2] * 2)


def test_a_planted_amplification_factor_is_recovered():
    """W = M + U C Vᵀ with M orthogonal to ΔW's directions U, V: U_ΔWᵀ W V_ΔW is C up to rotations, so the factor
    is ‖ΔW‖_F / ‖C‖_F; W's own top-2 directions carry sqrt(40² + 30²) = 50."""
    out_basis, in_basis = orthonormal(12, 2), orthonormal(10, 3)
    u, v = out_basis[:, :2], in_basis[:, :2]
    c = torch.tensor([[0.3, 0.1], [0.0, 0.2]], dtype=torch.float64)
    m = (
        out_basis[:, 2:6]
        @ torch.diag(torch.tensor([40.0, 30, 20, 10], dtype=torch.float64))
        @ in_basis[:, 2:6].T
    )
    w = m + u @ c @ v.T
    branch = LoRABranch(10, 12, LoRAConfig(r=2, alpha=8.0), torch.empty(0, dtype=torch.float64))
    with torch.no_grad():  # (alpha/r)·B A = U diag(5, 3) Vᵀ
        branch.lora_B.copy_(u @ torch.diag(torch.tensor([5.0, 3.0], dtype=torch.float64)) / 4)
        branch.lora_A.copy_(v.T)
    numbers = amplification(w, branch.delta_weight(), r=2, seed=0)
    assert numbers.delta_norm == pytest.approx(math.sqrt(34))
    assert numbers.projected_on_delta == pytest.approx(float(torch.linalg.matrix_norm(c)))
    assert numbers.factor == pytest.approx(math.sqrt(34) / math.sqrt(0.14))
    assert numbers.projected_on_w == pytest.approx(50.0)
    assert numbers.w_norm == pytest.approx(math.sqrt(40**2 + 30**2 + 20**2 + 10**2 + 0.14))
    again, other = (
        amplification(w, branch.delta_weight(), 2, seed=0),
        amplification(w, branch.delta_weight(), 2, 1),
    )
    assert again.projected_on_random == numbers.projected_on_random != other.projected_on_random
    assert numbers.projected_on_random < numbers.projected_on_w


# ------------------------------------------------------------------------------------- trained runs
def lora_run(root: Path, r: int) -> Path:
    cfg = compose_run_config([*TINY, f"method.r={r}", "trainer.save_trainable=true", f"output_root={root}"])
    return record_path(cfg, run(cfg)["config_hash"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny LoRA runs, r=4 and r=8, a few steps each, their tensors saved."""
    root = tmp_path_factory.mktemp("analyze")
    return lora_run(root, 4), lora_run(root, 8)


def saved(record: Path) -> dict[str, torch.Tensor]:
    return load_file(str(artifacts_dir(record) / "trainable.safetensors"))


def reference_phi(a: np.ndarray, b: np.ndarray, i: int, j: int) -> float:
    """φ straight from the paper's formula, with numpy's SVD."""
    ua, ub = np.linalg.svd(a)[2].T, np.linalg.svd(b)[2].T
    return float(np.linalg.norm(ua[:, :i].T @ ub[:, :j]) ** 2 / min(i, j))


def test_subspace_of_two_runs_prints_the_grid_and_draws_the_heatmap(runs, tmp_path, capsys):
    small, large = runs
    heatmap = tmp_path / "phi.png"
    argv = [
        "analyze",
        "subspace",
        str(small),
        str(large),
        "--weight",
        "v",
        "--layer",
        "1",
        "--out",
        str(heatmap),
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    grid = [[float(x) for x in line.split()[1:]] for line in out.splitlines() if re.match(r"i=\d", line)]
    assert len(grid) == 4 and all(len(row) == 8 for row in grid)  # i <= r_A = 4, j <= min(8, r_B)
    name = "bert.encoder.layer.1.attention.self.value.lora.v.lora_A"
    a, b = saved(small)[name].double().numpy(), saved(large)[name].double().numpy()
    expected = [[reference_phi(a, b, i, j) for j in range(1, 9)] for i in range(1, 5)]
    assert np.allclose(grid, expected, atol=1e-3)
    assert f"heatmap: {heatmap}" in out
    image = matplotlib.image.imread(heatmap)
    assert image.ndim == 3 and image.shape[0] > 300


def test_amplification_of_a_run(runs, capsys):
    _, large = runs
    assert cli.main(["analyze", "amplification", str(large), "--layer", "0", "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    tensors = saved(large)
    prefix = "bert.encoder.layer.0.attention.self.query.lora.q"
    delta = (
        (8 / 8) * tensors[f"{prefix}.lora_B"].double() @ tensors[f"{prefix}.lora_A"].double()
    )  # alpha/r = 1
    cfg = OmegaConf.create(json.loads(large.read_text())["config"])
    set_seed(cfg.seed)  # the run's random base weights, built as the runner built them
    w = build_model(cfg.model, "classification", 2).bert.encoder.layer[0].attention.self.query.weight.double()
    u, _, vh = torch.linalg.svd(delta)
    on_delta = torch.linalg.matrix_norm(u[:, :8].T @ w.detach() @ vh[:8].T).item()
    assert numbers["layer"] == 0 and numbers["r"] == 8
    assert numbers["w_norm"] == pytest.approx(torch.linalg.matrix_norm(w).item(), rel=1e-6)
    assert numbers["delta_norm"] == pytest.approx(torch.linalg.matrix_norm(delta).item(), rel=1e-6)
    assert numbers["factor"] == pytest.approx(numbers["delta_norm"] / on_delta, rel=1e-6)
    assert cli.main(["analyze", "amplification", str(large)]) == 0  # the readable form, middle layer
    out = capsys.readouterr().out
    assert "layer 1 (from 0)" in out and "amplification factor" in out


def test_amplification_takes_gpt2s_slice_of_the_fused_matrix(tmp_path, capsys):
    """GPT-2's v is the third output slice of c_attn (a Conv1D, stored in × out): W is that slice, transposed."""
    cfg = compose_run_config(["model=tiny-gpt2", "method=lora", "task=vader", f"output_root={tmp_path}"])
    set_seed(cfg.seed)
    model = build_model(cfg.model, "classification", 2)
    adapt(model, load_method(cfg.method), Layout.from_config(cfg.model.layout))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(std=0.5)
    path = record_path(cfg, "0" * 64)
    save_trainable(model, artifacts_dir(path) / "trainable.safetensors")
    config = OmegaConf.to_container(cfg, resolve=True)
    write_json_atomic(
        path,
        {"record_version": 2, "status": "complete", "config_hash": "0" * 64, "run_name": path.stem}
        | {"method": "lora", "model": "tiny-gpt2", "task": "vader", "seed": cfg.seed, "config": config},
    )
    assert cli.main(["analyze", "amplification", str(path), "--weight", "v", "--layer", "1", "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    set_seed(cfg.seed)
    fused = build_model(cfg.model, "classification", 2).transformer.h[1].attn.c_attn.weight  # 32 x 96
    assert numbers["w_norm"] == pytest.approx(torch.linalg.matrix_norm(fused[:, 64:96]).item(), rel=1e-6)
    assert numbers["w_norm"] != pytest.approx(torch.linalg.matrix_norm(fused[:, :32]).item(), rel=1e-3)


def edited_record(record: Path, tmp_path: Path, **changes) -> Path:
    """A copy of ``record`` beside it (so its artifacts are found) with some fields changed."""
    data = json.loads(record.read_text())
    for key, value in changes.items():
        if key == "method_config":
            data["config"]["method"] = value
        else:
            data[key] = value
    path = record.with_name(f"edited-{len(list(record.parent.iterdir()))}.json")
    path.write_text(json.dumps(data))
    return path


def test_bad_input_is_one_line_exit_2(runs, tmp_path, capsys):
    small, large = runs
    bitfit = edited_record(small, tmp_path, method="bitfit", method_config={"name": "bitfit"})
    # what a BitFit run saves holds no lora_A (here: the LoRA run's head)
    artifacts_dir(bitfit).mkdir(parents=True)
    head = {name: t for name, t in saved(small).items() if ".lora." not in name}
    save_file(head, str(artifacts_dir(bitfit) / "trainable.safetensors"))
    failed = edited_record(small, tmp_path, status="failed")
    cases = [
        (["amplification", str(tmp_path / "none.json")], "RUN='", "no such file"),
        (
            ["amplification", str(bitfit)],
            "method='bitfit' trains no LoRA",
            "no low-rank update",
            "compose, lora",
        ),
        (["amplification", str(failed)], "its run is failed", "not complete"),
        (["amplification", str(large), "--weight", "k"], "--weight='k' is not valid", "choose one of: q, v"),
        (["subspace", str(small), str(large), "--layer", "2"], "--layer=2 is not valid", "layers 0..1"),
    ]
    for argv, *expected in cases:
        assert cli.main(["analyze", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("adaptbench: error: ") and "\n" not in err, err
        assert all(text in err for text in expected), err


# ------------------------------------------------------------------------------------- PEFT's LoRA
def fake_record(cfg, tensors: dict[str, torch.Tensor], stem: str) -> Path:  # noqa: ANN001
    """A complete run record of ``cfg`` whose saved trainable tensors are ``tensors``."""
    path = record_path(cfg, stem.ljust(64, "0"))
    artifacts_dir(path).mkdir(parents=True, exist_ok=True)
    save_file(
        {n: t.contiguous() for n, t in tensors.items()}, str(artifacts_dir(path) / "trainable.safetensors")
    )
    method = str(cfg.method.name)
    write_json_atomic(
        path,
        {"record_version": 2, "status": "complete", "config_hash": stem, "run_name": path.stem}
        | {"method": method, "model": str(cfg.model.name), "task": "vader", "seed": cfg.seed}
        | {"config": OmegaConf.to_container(cfg, resolve=True)},
    )
    return path


def as_builtin_lora(name: str) -> str:
    """PEFT's saved name of a LoRA tensor as the built-in lora's (BERT: query is q, value is v)."""
    target = {"query": "q", "value": "v"}
    return re.sub(
        r"\.(query|value)\.lora_([AB])\.default\.weight$",
        lambda m: f".{m.group(1)}.lora.{target[m.group(1)]}.lora_{m.group(2)}",
        name,
    )


@pytest.fixture(scope="module")
def peft_and_twin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny peft_lora run (r=8, lora_alpha=8, trained 2 steps) and a built-in lora record (r=8, alpha=8) holding
    the same tensors under the built-in's names."""
    root = tmp_path_factory.mktemp("analyze_peft")
    peft_overrides = [*TINY[:-2], "method=peft_lora", "trainer.max_steps=2", "method.peft_config.r=8"]
    cfg = compose_run_config([*peft_overrides, "trainer.save_trainable=true", f"output_root={root}"])
    peft_record = record_path(cfg, run(cfg)["config_hash"])
    tensors = saved(peft_record)
    assert any(".lora_A.default.weight" in n for n in tensors)
    twin_cfg = compose_run_config([*TINY, "method.r=8", "method.alpha=8", f"output_root={root}"])
    twin = fake_record(twin_cfg, {as_builtin_lora(n): t for n, t in tensors.items()}, "twin")
    return peft_record, twin


def grid_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if re.match(r"i=\d", line)]


def test_a_peft_lora_run_gives_the_builtin_loras_numbers_given_the_same_tensors(
    runs, peft_and_twin, capsys, tmp_path
):
    """analyze reads PEFT's lora_A/lora_B through the method's ``low_rank_updates``: the same subspace grid
    against a third run, and the same Table 7 numbers, as the built-in lora holding the same tensors."""
    small, _ = runs
    peft_record, twin = peft_and_twin
    outputs = {}
    for record in (peft_record, twin):
        assert (
            cli.main(
                ["analyze", "subspace", str(record), str(small), "--weight", "q", "--layer", "1"]
                + ["--out", str(tmp_path / "subspace.png")]
            )
            == 0
        )
        grid = grid_lines(capsys.readouterr().out)
        assert (
            cli.main(["analyze", "amplification", str(record), "--weight", "v", "--layer", "0", "--json"])
            == 0
        )
        numbers = json.loads(capsys.readouterr().out)
        outputs[record] = (grid, {k: v for k, v in numbers.items() if k != "run"})
    assert outputs[peft_record] == outputs[twin]
    grid, numbers = outputs[peft_record]
    assert len(grid) == 8 and numbers["r"] == 8 and numbers["delta_norm"] > 0  # B moved in 2 steps
    # and the grid is the paper's φ of the saved A matrices
    a = saved(peft_record)["bert.encoder.layer.1.attention.self.query.lora_A.default.weight"].double().numpy()
    b = saved(small)["bert.encoder.layer.1.attention.self.query.lora.q.lora_A"].double().numpy()
    first_row = [float(x) for x in grid[0].split()[1:]]
    assert first_row == pytest.approx([reference_phi(a, b, 1, j) for j in range(1, 5)], abs=1e-3)


def test_peft_lora_on_gpt2_adapts_the_fused_matrix_whole(tmp_path, capsys):
    """PEFT adapts GPT-2's whole c_attn for targets q and v: one update per block, named q+k+v, W the whole
    fused matrix (transposed from Conv1D's in x out), ΔW = (lora_alpha/r)·B A."""
    overrides = ["model=tiny-gpt2", "method=peft_lora", "task=vader", "method.peft_config.lora_alpha=16"]
    cfg = compose_run_config([*overrides, f"output_root={tmp_path}"])
    set_seed(cfg.seed)
    model = build_model(cfg.model, "classification", 2)
    adapt(model, load_method(cfg.method), Layout.from_config(cfg.model.layout))
    generator = torch.Generator().manual_seed(0)
    tensors = {
        n: torch.randn(p.shape, generator=generator) for n, p in model.named_parameters() if p.requires_grad
    }
    record = fake_record(cfg, tensors, "gpt2")
    assert cli.main(["analyze", "amplification", str(record), "--weight", "v"]) == 2
    err = capsys.readouterr().err
    assert "--weight='v' is not valid; choose one of: q+k+v" in err
    assert (
        cli.main(["analyze", "amplification", str(record), "--weight", "q+k+v", "--layer", "1", "--json"])
        == 0
    )
    numbers = json.loads(capsys.readouterr().out)
    set_seed(cfg.seed)
    fused = (
        build_model(cfg.model, "classification", 2).transformer.h[1].attn.c_attn.weight.double()
    )  # 32 x 96
    prefix = "transformer.h.1.attn.c_attn"
    delta = 2.0 * tensors[f"{prefix}.lora_B.default.weight"] @ tensors[f"{prefix}.lora_A.default.weight"]
    assert numbers["w_norm"] == pytest.approx(torch.linalg.matrix_norm(fused).item(), rel=1e-6)
    assert numbers["delta_norm"] == pytest.approx(torch.linalg.matrix_norm(delta.double()).item(), rel=1e-5)
