"""README command 1's job, as it runs: the quickstart's 4 methods on real MiniLM weights and the VADER lexicon.
LoRA and full fine-tuning must beat the majority-class baseline on dev (takes a few minutes on 2 cores)."""

from __future__ import annotations

from adaptbench.harness.quickstart import quickstart


def test_quickstart_beats_the_majority_baseline(tmp_path, capsys):
    records = quickstart([f"output_root={tmp_path}"])
    by_method = {r["method"]: r for r in records}
    assert {"full", "bitfit", "lora"} <= set(by_method) and any(m.startswith("adapter") for m in by_method)
    for method in ("full", "lora"):
        best = by_method[method]["best"]["metrics"]
        assert best["accuracy"] > best["majority_baseline"] + 0.05, (method, best)
    assert by_method["lora"]["params"]["method_params"] < by_method["full"]["params"]["method_params"] / 50
    printed = capsys.readouterr().out
    for method in by_method:
        assert method in printed
    assert "majority-class baseline" in printed
