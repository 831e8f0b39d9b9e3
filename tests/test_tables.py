"""``adaptbench table`` on hand-written records: seeds aggregated as the paper does, n per cell, failed and
missing cells shown, corrupt files skipped with one visible warning line each, the paper's numbers beside."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

import pytest
from _records_util import latency_record, run_record, write_records

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config import tree as config_tree
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.store import write_json_atomic
from adaptbench.harness.report.layouts import layouts
from adaptbench.harness.report.paper import method_labels, read_paper_table
from adaptbench.harness.report.params_table import (
    PARAMS_PAPER_TABLES,
    _params_line,
    paper_variants,
    params_table,
)
from adaptbench.harness.report.tables import main
from adaptbench.harness.report.text import Footnotes
from adaptbench.tasks.metrics.glue import GLUE_MAIN_METRIC
from conftest import run_cli

# A 3-seed sweep (method=full,bitfit,lora seed=1,2,3 on minilm-l6 x vader), medians chosen to differ from means.
SWEEP = {"full": [0.90, 0.95, 0.91], "bitfit": [0.80, 0.84, 0.81], "lora": [0.88, 0.86, 0.89]}


def markdown_rows(text: str, key: int = 1) -> dict[str, list[str]]:
    """Markdown table rows (not the header) by their cell ``key`` (the Method column), up to the cost section
    that ``--compare paper`` appends (tests/test_cost_table.py reads that)."""
    rows = {}
    for line in text.split("**Cost per method")[0].splitlines():
        if line.startswith("| ") and not line.startswith(("| Model", "| Method")):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[key]] = cells
    return rows


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    records = [run_record(m, seed, v) for m, values in SWEEP.items() for seed, v in enumerate(values, 1)]
    records += [run_record("adapter_h", 1, 0.85), run_record("adapter_h", 2, None, status="failed")]
    write_records(tmp_path, records)
    (tmp_path / "records" / "vader" / "minilm-l6" / "truncated.json").write_text('{"method": "lo')
    (tmp_path / "records" / "vader" / "foreign.json").write_text(json.dumps({"hello": "world"}))
    return tmp_path


def test_one_row_per_method_with_n_and_median(sweep, capsys):
    assert main([str(sweep), "--format", "md"]) == 0
    rows = markdown_rows(capsys.readouterr().out)
    assert set(rows) == {"FT", "BitFit", "LoRA", "AdapterH"}
    for method, name in (("full", "FT"), ("bitfit", "BitFit"), ("lora", "LoRA")):
        values = SWEEP[method]
        expected = f"{statistics.median(values):.4f} ±{statistics.stdev(values):.4f} n=3"
        assert rows[name][3] == expected
    assert rows["FT"][3].startswith("0.9100")  # the median, not the mean 0.92
    assert rows["AdapterH"][3] == "0.8500 n=1 (1 failed)"  # the failed job is shown, not dropped
    assert rows["LoRA"][2] == "0.07M"  # |Θ| = method_params 73,728


def test_mean_on_request(sweep, capsys):
    main([str(sweep), "--agg", "mean"])
    assert markdown_rows(capsys.readouterr().out)["FT"][3].startswith("0.9200 ")


def test_corrupt_and_foreign_files_warn_one_line_each(sweep):
    result = run_cli("table", str(sweep))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(warnings) == 2
    assert any("truncated.json" in w and "not a readable record" in w for w in warnings)
    assert any("foreign.json" in w and "not an adaptbench record" in w for w in warnings)
    assert "n=3" in result.stdout


def test_missing_seeds_are_counted(tmp_path, capsys):
    records = [run_record("lora", seed, 0.8) for seed in (1, 2, 3)]
    records += [run_record("lora", seed, 0.7, task="vader_rating", metric="pearson") for seed in (1, 2)]
    records += [run_record("bitfit", 1, 0.75)]
    main([str(write_records(tmp_path, records))])
    rows = markdown_rows(capsys.readouterr().out)
    assert rows["LoRA"][3] == "0.8000 ±0.0000 n=3"
    assert rows["LoRA"][4] == "0.7000 ±0.0000 n=2 (1 missing)"
    assert rows["BitFit"][4] == "missing"


def test_rows_split_by_differing_settings(tmp_path, capsys):
    records = [run_record("lora", 1, 0.8, method_cfg={"r": r, "alpha": 8}) for r in (4, 8)]
    main([str(write_records(tmp_path, records))])
    rows = markdown_rows(capsys.readouterr().out)
    assert set(rows) == {"LoRA (r=4)", "LoRA (r=8)"}


def glue_records() -> list[dict]:
    """RoBERTa-base LoRA on MNLI (3 seeds, median 87.5 = the paper's) and RTE (1 seed)."""
    mnli = [
        run_record("lora", s, v, model="roberta-base", task="mnli", method_params=294_912)
        for s, v in ((1, 0.870), (2, 0.875), (3, 0.882))
    ]
    rte = [run_record("lora", 1, 0.80, model="roberta-base", task="rte", method_params=294_912)]
    return mnli + rte


def test_glue_layout_beside_the_paper(tmp_path, capsys):
    main([str(write_records(tmp_path, glue_records())), "--compare", "paper"])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| Model"))
    assert header.split(" | ")[3:] == [
        "MNLI",
        "SST-2",
        "MRPC",
        "CoLA",
        "QNLI",
        "QQP",
        "RTE",
        "STS-B",
        "Avg. |",
    ]
    rows = markdown_rows(out)
    lora = rows["LoRA"]
    assert lora[0] == "RoBERTa-base"
    assert lora[2] == "0.29M [paper 0.3M]"
    assert lora[3] == "87.5 ±0.6 n=3 [paper 87.5, Δ +0.0]"  # stdev of 87.0, 87.5, 88.2 = 0.60
    assert lora[9] == "80.0 n=1 (2 missing) [paper 86.6, Δ -6.6]"
    # the paper's rows we have no records of, marked as published
    assert rows["FT* (paper)"][3] == "87.6" and rows["FT* (paper)"][11] == "86.4"
    assert "AdapterD* (paper)" in rows
    assert not any(cells[0] == "DeBERTa-XXL" for cells in rows.values())  # only the models we measured


def test_gpt2_lora_printed_params_footnote(tmp_path, capsys):
    bleu = [0.70, 0.71, 0.75]
    records = [
        run_record(
            "lora",
            s,
            None,
            model="gpt2-medium",
            task="e2e",
            metric="BLEU",
            method_params=393_216,
            metrics={"BLEU": b, "NIST": 8.8, "METEOR": 0.46, "ROUGE_L": 0.71, "CIDEr": 2.5},
        )
        for s, b in enumerate(bleu, 1)
    ]
    main([str(write_records(tmp_path, records)), "--compare", "paper"])
    out = capsys.readouterr().out
    lora = markdown_rows(out)["LoRA"]
    assert lora[2] == "0.39M [paper 0.35M [1]]"
    assert lora[3].startswith(f"{100 * statistics.fmean(bleu):.1f} ")  # NLG: the mean over seeds
    assert lora[3].endswith("[paper 70.4, Δ +1.6]")  # 72.0 - 70.4
    assert "[1] GPT-2 M LoRA: the paper prints 0.35M" in out and "393,216" in out


def test_webnlg_columns_by_category(tmp_path, capsys):
    records = [
        run_record(
            "lora",
            1,
            None,
            model="gpt2-medium",
            task="webnlg",
            metric="BLEU",
            task_cfg={"categories": cat},
            metrics={"BLEU": bleu, "METEOR": 0.4, "TER": 0.4},
        )
        for cat, bleu in (("unseen", 46.0), ("seen", 62.0), ("all", 55.0))
    ]
    main([str(write_records(tmp_path, records)), "--layout", "webnlg"])
    out = capsys.readouterr().out
    assert "| BLEU U | BLEU S | BLEU A | MET U |" in out
    assert markdown_rows(out)["LoRA"][3:6] == ["46.0 n=1", "62.0 n=1", "55.0 n=1"]


def test_latency_layout_from_latency_records(tmp_path, capsys):
    write_records(tmp_path, [run_record("lora", 1, 0.8)])  # run records beside must not be read as latency
    for method, ms in (("adapter_l", 23.9), ("adapter_h", 25.8), ("lora", 19.8)):
        write_json_atomic(tmp_path / "latency" / f"{method}.json", latency_record(method, 1, 128, 19.8, ms))
    main([str(tmp_path), "--layout", "latency"])
    captured = capsys.readouterr()
    rows = markdown_rows(captured.out, key=0)
    assert rows["AdapterL"][2] == "23.9 ms +20.7% n=1 [paper 23.9 ms +20.7%]"
    assert rows["AdapterH"][2] == "25.8 ms +30.3% n=1 [paper 25.8 ms +30.3%]"
    assert "measured on cpu, 2 threads" in captured.out and "a CPU's overhead differs" in captured.out
    assert "skipped" not in captured.err
    main([str(tmp_path)])  # and the run-record table does not choke on the latency files
    assert "skipped" not in capsys.readouterr().err


def test_params_layout_gpt2_medium_beside_the_paper():
    table = params_table("gpt2-medium", compare=True)
    rows = {(r[0], r[1]): r[2:] for r in table.rows}
    # LoRA at the Table 3 preset's r=4 (the YAML default r=8 would give 786,432), beside the printed 0.35M
    assert rows[("LoRA", "table3_gpt2_medium")] == ["393,216", "393,216", "0.35M [2]"]
    assert rows[("FT", "table3_gpt2_medium")] == ["354,823,168", "354,823,168", "354.92M [1]"]
    assert rows[("FTTop2", "table3_gpt2_medium")][2] == "25.19M"
    assert rows[("AdapterL", "table3_gpt2_medium_wide")][2] == "11.09M"
    assert (
        table.notes[1].startswith("[2] GPT-2 M LoRA: the paper prints 0.35M") and "393,216" in table.notes[1]
    )
    peft = {name for name, _ in rows if name.endswith("(PEFT)") or name == "PEFT tuner"}
    assert len(peft) == 13  # the generic `peft` plugin and its 12 tuner YAMLs (conf/method/peft*.yaml)
    assert {name for name, _ in rows} - peft == {
        "FT",
        "FTTop2",
        "BitFit",
        "PreEmbed",
        "PreLayer",
        "AdapterH",
        "AdapterL",
        "AdapterP",
        "AdapterD",
        "LoRA",
        "LoRA+PE",
        "LoRA+PL",
        "Probe",
    }


def test_gpt3_lora_params_match_table4():
    published = read_paper_table("table4_gpt3")
    line = _params_line("gpt3-175b", "lora", ["method.r=1"], published, Footnotes())
    assert line[2:] == ["4,718,592", "4,718,592", "4.7M"]  # 2·96·12288·2 (W_q, W_v at r=1)


def test_table4_rows_come_from_their_preset():
    """GPT-3 cannot run, so Table 4's preset lists its rows' settings (App. D.4) for the |Θ| layout."""
    assert paper_variants("gpt3-175b") == {
        "lora": [["method.r=1"], ["method.r=8"]],
        "adapter_h": [["method.r=1"], ["method.r=8"]],
        "prefix_embed": [["method.prefix_len=256", "method.infix_len=8"]],
        "prefix_layer": [["method.prefix_len=8", "method.infix_len=8"]],
    }


def test_every_method_the_paper_prints_is_a_methods_paper_label():
    """--compare paper matches rows by label: each method of Tables 2-4, 13 and 14 is one method's label."""
    labels = list(method_labels().values())
    assert len(labels) == len(set(labels))
    printed = {
        row.method
        for stem in (*PARAMS_PAPER_TABLES, "table13_dart", "table14_webnlg")
        for row in read_paper_table(stem)
    }
    assert printed <= set(labels), printed - set(labels)


def test_a_new_methods_yaml_names_its_rows(tmp_path, monkeypatch, capsys):
    """A row's label is its method YAML's ``paper_label`` (the name without one): a new method needs no harness
    edit."""
    conf = tmp_path / "conf" / "method"
    conf.mkdir(parents=True)
    for path in (config_tree.CONF_DIR / "method").glob("*.yaml"):
        (conf / path.name).write_text(path.read_text())
    (conf / "dora.yaml").write_text("name: dora\npaper_label: DoRA\nr: 8\n")
    (conf / "plain.yaml").write_text("name: plain\n")
    monkeypatch.setattr(config_tree, "CONF_DIR", conf.parent)
    method_labels.cache_clear()
    try:
        write_records(tmp_path, [run_record(m, 1, 0.8) for m in ("dora", "plain", "lora")])
        assert main([str(tmp_path)]) == 0
    finally:
        method_labels.cache_clear()
    assert set(markdown_rows(capsys.readouterr().out)) == {"DoRA", "plain", "LoRA"}


def test_the_paper_label_neither_splits_rows_nor_changes_the_hash(tmp_path, capsys):
    """Records written before methods had a ``paper_label`` are the same runs as those written after."""
    labelled = {"name": "lora", "paper_label": "LoRA", "r": 8}
    assert config_hash({"method": labelled}) == config_hash({"method": {"name": "lora", "r": 8}})
    records = [run_record("lora", 1, 0.8, method_cfg={"paper_label": "LoRA", "r": 8})]
    records += [run_record("lora", 2, 0.9, method_cfg={"r": 8})]
    write_records(tmp_path, records)
    main([str(tmp_path)])
    rows = markdown_rows(capsys.readouterr().out)
    assert list(rows) == ["LoRA"] and rows["LoRA"][3].endswith("n=2")


def test_table2_metrics_are_the_tasks_paper_metrics():
    """conf/layout/glue.yaml's metric per task is the task plugin's main metric (the one Table 2 prints)."""
    glue = {c.task: c.metric for c in layouts()["glue"].columns}
    assert glue == {t: m for t, m in GLUE_MAIN_METRIC.items() if t != "mnli_mm"}


def test_csv_cells_are_numbers_and_latex_renders_the_headers(sweep, capsys):
    main([str(sweep), "--format", "csv"])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    header = "vader accuracy"
    assert rows[0] == ["model", "method", "params", header, f"{header} sd", f"{header} n", f"{header} failed"]
    by_method = {row[1]: row for row in rows[1:]}
    # every quantity its own cell, each one a number as Python reads it back (no "M", "±", "n=")
    full = [float(cell) for cell in by_method["FT"][2:]]
    assert full == [
        22_713_216,
        pytest.approx(statistics.median(SWEEP["full"])),
        pytest.approx(statistics.stdev(SWEEP["full"])),
        3,
        0,
    ]
    assert by_method["AdapterH"][3:] == ["0.85", "", "1", "1"]  # one seed scored, one failed: no spread
    main([str(sweep), "--format", "latex"])
    latex = capsys.readouterr().out
    assert r"\begin{tabular}" in latex and r"0.9100 $\pm$0.0265 n=3" in latex
    # |Θ| as one math group (a bare | is an em dash in LaTeX's text font), nothing escaped twice
    assert "Model & Method & $|\\Theta|$ & vader accuracy \\\\" in latex.splitlines()


def test_latex_escapes_once():
    from adaptbench.harness.report.render import latex_escape

    assert latex_escape("a\\b_{c} 5% |x| ±") == r"a\textbackslash{}b\_\{c\} 5\% \textbar{}x\textbar{} $\pm$"


def test_bad_arguments_fail_in_one_line(tmp_path):
    with pytest.raises(
        ConfigError,
        match="--layout=.glu. is not valid; choose one of: auto, cost, dart, e2e, glue, latency, params, table15_open, table4_open, table5_open, table6_open, webnlg$",
    ):
        main(["--layout", "glu"])
    with pytest.raises(ConfigError, match="needs a model"):
        main(["--layout", "params"])
    with pytest.raises(ConfigError, match="no run records"):
        main([str(tmp_path)])
