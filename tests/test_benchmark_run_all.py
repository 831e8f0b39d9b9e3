"""benchmarks/run_all.py --only updates its entries and leaves the last full run's date and machine alone."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    spec = importlib.util.spec_from_file_location("run_all_under_test", ROOT / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    monkeypatch.setattr(module, "run_one", lambda name, quick: {"ratio": 0.5, "met": True})
    monkeypatch.setattr(
        module, "machine", lambda: {"cpu": "this one", "load_average_at_start": (3.0, 2.0, 1.0)}
    )
    monkeypatch.setattr(module, "now", lambda: "2026-12-03T10:00:00+00:00")
    return module


def test_only_keeps_the_full_runs_date_and_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "results" / "latest.json"
    out.parent.mkdir()
    earlier = {
        "date": "2026-11-30T08:00:00+00:00",
        "quick": False,
        "machine": {"cpu": "quiet", "load_average_at_start": (0.1, 0.1, 0.1)},
        "benchmarks": {"train_step": {"ratio": 0.7, "date": "2026-11-30T08:10:00+00:00"}},
    }
    out.write_text(json.dumps(earlier))
    module = _run_all(monkeypatch, tmp_path)
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--only", "startup"])
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 0
    report = json.loads(out.read_text())
    assert report["date"] == earlier["date"]
    assert report["machine"]["cpu"] == "quiet"
    assert report["benchmarks"]["train_step"] == earlier["benchmarks"]["train_step"]
    startup = report["benchmarks"]["startup"]
    assert startup["ratio"] == 0.5
    assert startup["date"] == "2026-12-03T10:00:00+00:00"
    assert startup["machine"]["load_average_at_start"] == [3.0, 2.0, 1.0]
