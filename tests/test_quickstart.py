"""README command 1's job, as a user runs it: the quickstart's 4 methods on real MiniLM weights and the VADER
lexicon. LoRA and full fine-tuning must beat the majority-class baseline on dev, and the console stays readable:
under 40 lines in all, ending with the table (takes a few minutes on 2 cores)."""

from __future__ import annotations

from adaptbench.harness.records.store import iter_records
from conftest import run_cli


def test_quickstart_beats_the_majority_baseline_in_a_short_console(tmp_path):
    result = run_cli("quickstart", f"output_root={tmp_path}", env={"WANDB_MODE": ""}, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    by_method = {r["method"]: r for r in iter_records(tmp_path)}
    assert {"full", "bitfit", "lora"} <= set(by_method) and any(m.startswith("adapter") for m in by_method)
    for method in ("full", "lora"):
        best = by_method[method]["best"]["metrics"]
        assert best["accuracy"] > best["majority_baseline"] + 0.05, (method, best)
    assert by_method["lora"]["params"]["method_params"] < by_method["full"]["params"]["method_params"] / 50

    console = (result.stderr + result.stdout).strip().splitlines()
    assert len(console) < 40, "\n".join(console)
    table = result.stdout
    for method in by_method:
        assert method in table
    assert console[-1].strip().startswith("majority-class baseline"), console[-3:]
