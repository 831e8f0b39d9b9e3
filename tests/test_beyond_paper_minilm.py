"""Issue 22's committed beyond-paper runs (results/beyond_paper_minilm): the README's table and table.md are the
records', and every reported record is at the rate its search picked on the held-out rows (never dev), its seed 1
being that search record itself."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from adaptbench.harness.records.store import iter_records
from adaptbench.harness.report.readme import generated_parts
from adaptbench.harness.report.tables import main as table_main

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "results" / "beyond_paper_minilm"
CHOOSE = runpy.run_path(str(REPO / "results" / "claims_minilm" / "choose_rate.py"))


def test_the_readme_table_is_the_records():
    parts = generated_parts((ROOT / "README.md").read_text(encoding="utf-8"), list(iter_records(ROOT)))
    assert "table" in parts
    for name, (written, generated) in parts.items():
        assert written == generated, (
            f"stale README part {name!r}: python -m adaptbench.harness.report.readme {ROOT}"
        )


def test_table_md_rerenders_from_the_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "table.md"
    assert table_main([str(ROOT.relative_to(REPO)), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == (ROOT / "table.md").read_text(encoding="utf-8")


def test_every_reported_record_is_at_its_searchs_pick_and_seed_1_is_the_search_record():
    reported = [record for record in iter_records(ROOT) if record["status"] == "complete"]
    assert {record["method"] for record in reported} >= {
        "full",
        "lora",
        "linear_probe",
        "peft_dora",
        "peft_ia3",
    }
    for record in reported:
        search = ROOT / "search"
        picked = CHOOSE["chosen_record"](str(search), record["method"], record["task"], {})
        assert picked is not None, record["run_name"]
        assert record["lr"] == picked["lr"], (record["run_name"], record["lr"], picked["lr"])
        if record["seed"] == 1:
            path = search / "records" / record["task"] / record["model"] / f"{record['run_name']}.json"
            assert json.loads(path.read_text()) == record
    seeds = {
        (r["method"], r["task"]): sorted(
            x["seed"] for x in reported if (x["method"], x["task"]) == (r["method"], r["task"])
        )
        for r in reported
    }
    assert all(found == [1, 2, 3] for found in seeds.values()), seeds
