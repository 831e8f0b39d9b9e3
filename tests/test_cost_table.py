"""``adaptbench table --layout cost``: each method's |Θ|, peak memory, throughput and time to the best evaluation
beside full fine-tuning's, from hand-written records whose ratios can be checked by hand; and the cost section of
``--compare paper`` with Section 4.2's GPT-3 numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from _records_util import METHOD_PARAMS, run_record, write_records

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.report.tables import main

GIB = 1024**3
# per method: per seed (peak GiB, train samples/s, train tokens/s, train seconds); 100 steps, best at step 20
COSTS = {
    "full": [(4.0, 10.0, 1000.0, 100.0), (4.5, 9.0, 900.0, 110.0), (3.5, 11.0, 1100.0, 90.0)],
    "lora": [(1.0, 15.0, 1500.0, 50.0), (1.2, 14.0, 1400.0, 60.0), (0.8, 16.0, 1600.0, 40.0)],
    "bitfit": [(2.0, 20.0, 2000.0, 30.0), (2.0, 20.0, 2000.0, 30.0), (2.0, 20.0, 2000.0, 30.0)],
}


def costed(method: str, seed: int, peak: float, samples: float, tokens: float, seconds: float, **kw) -> dict:
    record = run_record(method, seed, 0.9, **kw)
    record["peak_memory_bytes"] = int(peak * GIB)
    record["peak_memory_kind"] = "process_max_rss"
    record["provenance"] = {"device": "cpu"}
    record["config"]["trainer"] = {"precision": "bf16"}
    record["train"] |= {
        "steps": 100,
        "train_seconds": seconds,
        "train_samples_per_second": samples,
        "train_tokens_per_second": tokens,
    }
    return record


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    records = [costed(m, seed, *c) for m, seeds in COSTS.items() for seed, c in enumerate(seeds, 1)]
    records.append(run_record("lora", 4, None, status="failed"))  # no cost: not a seed of any cell
    return write_records(tmp_path, records)


def cost_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| Model"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[1]] = cells
    return rows


def test_cost_layout_ratios_to_full_fine_tuning(sweep, capsys):
    assert main([str(sweep), "--layout", "cost"]) == 0
    out = capsys.readouterr().out
    assert "(device cpu, precision bf16, peak memory = process_max_rss)" in out.splitlines()[0]
    rows = cost_rows(out)
    assert list(rows) == ["FT", "BitFit", "LoRA"]  # full fine-tuning first: the reference
    # medians over the 3 seeds: full 4.0 GiB, 10 samples/s, 1000 tokens/s, 100 s (20 of them to step 20 of 100)
    assert rows["FT"][3:] == [
        "22.71M ×1.000",
        "4.000 GiB ×1.000",
        "10.0 ×1.000",
        "1,000 ×1.000",
        "20.0 ×1.000",
        "3",
    ]
    # LoRA: 73,728 / 22,713,216 = 0.003246; 1.0 / 4.0; 15 / 10; 1500 / 1000; 50·0.2 = 10 s of 20
    assert rows["LoRA"][3:] == [
        "0.07M ×0.003",
        "1.000 GiB ×0.250",
        "15.0 ×1.500",
        "1,500 ×1.500",
        "10.0 ×0.500",
        "3",
    ]
    assert rows["BitFit"][4:] == ["2.000 GiB ×0.500", "20.0 ×2.000", "2,000 ×2.000", "6.0 ×0.300", "3"]


def test_cost_csv_has_values_and_ratios_as_numbers(sweep, capsys):
    main([str(sweep), "--layout", "cost", "--format", "csv"])
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert int(rows["LoRA"]["params"]) == METHOD_PARAMS["lora"]
    assert float(rows["LoRA"]["params / full"]) == pytest.approx(73_728 / 22_713_216)
    assert float(rows["LoRA"]["peak_memory_gib / full"]) == pytest.approx(0.25)
    assert float(rows["BitFit"]["seconds_to_best / full"]) == pytest.approx(0.3)


def test_no_full_fine_tuning_no_ratios(tmp_path, capsys):
    records = [
        costed("lora", 1, 1.0, 15.0, 1500.0, 50.0),
        costed("lora", 1, 1.0, 15.0, 1500.0, 50.0, task="sst2"),
    ]
    records += [costed("full", 1, 4.0, 10.0, 1000.0, 100.0, task="sst2")]
    main([str(write_records(tmp_path, records)), "--layout", "cost"])
    out = capsys.readouterr().out
    lora = [line for line in out.splitlines() if "| LoRA |" in line]
    assert "| vader | 0.07M | 1.000 GiB | 15.0 | 1,500 | 10.0 | 1 |" in lora[1]  # vader: no ratio
    assert "1.000 GiB ×0.250" in lora[0]  # sst2: beside sst2's full fine-tuning only
    assert "no full fine-tuning run of minilm-l6 × vader in these records: no ratios there" in out


def test_compare_paper_adds_the_cost_section_with_section_4_2(sweep, capsys):
    main([str(sweep), "--compare", "paper"])
    out = capsys.readouterr().out
    tables = out.split("\n\n**")
    assert tables[-1].startswith("Cost per method")
    rows = cost_rows(tables[-1])
    assert rows["LoRA"][4] == "1.000 GiB ×0.250"
    # 350 GB / 1.2 TB, and the 25% training speedup as a throughput ratio
    assert rows["LoRA (paper §4.2)"][4:6] == ["350 GB ×0.292", "- ×1.250"]


def test_cost_needs_complete_records(tmp_path):
    with pytest.raises(ConfigError, match="no complete run records"):
        main(
            [str(write_records(tmp_path, [run_record("lora", 1, None, status="failed")])), "--layout", "cost"]
        )
