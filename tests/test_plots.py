"""``adaptbench plot`` on hand-written records: the figures the records support are written as PNG and SVG
(paths printed), the others skipped with one line saying why."""

from __future__ import annotations

import matplotlib.image
import pytest
from _records_util import latency_record, run_record, write_records

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.records.store import write_json_atomic
from adaptbench.harness.report.plots import (
    PARETO_LABEL,
    main,
    pareto_front,
    score_vs_memory,
    score_vs_params,
    score_vs_time,
)
from adaptbench.harness.report.results import Results

SWEEP = {"full": [0.90, 0.95, 0.91], "bitfit": [0.80, 0.84, 0.81], "lora": [0.88, 0.86, 0.89]}


def sweep_records() -> list[dict]:
    return [run_record(m, seed, v) for m, values in SWEEP.items() for seed, v in enumerate(values, 1)]


def test_score_vs_params_from_a_sweep(tmp_path, capsys):
    root = write_records(tmp_path / "outputs", sweep_records())
    assert main([str(root), "--out", str(tmp_path / "figures")]) == 0
    printed = capsys.readouterr().out.splitlines()
    png, svg = tmp_path / "figures" / "score_vs_params.png", tmp_path / "figures" / "score_vs_params.svg"
    assert str(png) in printed and str(svg) in printed
    height, width, _ = matplotlib.image.imread(png).shape
    assert width > 400 and height > 300
    assert "|Θ|" in svg.read_text()  # the x axis label
    assert "skipped latency_overhead: no latency records" in "\n".join(printed)
    assert "skipped score_vs_memory: no complete run record has its peak memory" in "\n".join(printed)
    assert "skipped score_vs_rank: no method has records at more than one r" in "\n".join(printed)


def test_one_series_per_method_at_the_median(tmp_path):
    figure = score_vs_params(Results(sweep_records()))
    (ax,) = figure.axes
    lines = {container.get_label(): container.lines[0] for container in ax.containers}  # errorbar series
    assert set(lines) == {"FT", "BitFit", "LoRA"}
    assert list(lines["FT"].get_ydata()) == [pytest.approx(0.91)]  # median of 0.90, 0.95, 0.91
    assert list(lines["LoRA"].get_xdata()) == [73_728]
    assert ax.get_xscale() == "log"


def test_score_vs_memory_and_time_at_the_medians():
    records = sweep_records()
    for i, record in enumerate(records):  # full: 3, 4, 5 GiB and 30, 40, 50 s; the others 1/10 of that
        scale = 1 if record["method"] == "full" else 0.1
        record["peak_memory_bytes"], record["peak_memory_kind"] = (
            int((3 + i % 3) * scale * 2**30),
            "cuda_allocated",
        )
        record["train"]["train_seconds"] = (30 + 10 * (i % 3)) * scale
    memory, time = score_vs_memory(Results(records)), score_vs_time(Results(records))
    for figure, full_x in ((memory, 4.0), (time, 40.0)):
        (ax,) = figure.axes
        lines = {container.get_label(): container.lines[0] for container in ax.containers}
        assert list(lines["FT"].get_xdata()) == [pytest.approx(full_x)]
        assert list(lines["FT"].get_ydata()) == [pytest.approx(0.91)]
        assert list(lines["LoRA"].get_xdata()) == [pytest.approx(full_x / 10)]
    assert "peak CUDA allocation" in memory.axes[0].get_xlabel()


def front_line(ax) -> list[tuple[float, float]]:
    (line,) = [line for line in ax.get_lines() if line.get_label() == PARETO_LABEL]
    assert line.get_drawstyle() == "steps-post"  # the best score within each cost: a staircase
    return list(zip(line.get_xdata(), line.get_ydata(), strict=True))


def test_pareto_front_on_the_memory_and_time_panels():
    """Four methods' medians: BitFit cheapest, LoRA dearer and better, Adapter dearer than LoRA and worse (off the
    front), full the dearest and best; on the time panel Adapter is the fastest of all, so it joins the front."""
    scores = {"full": 0.91, "bitfit": 0.81, "lora": 0.88, "adapter_h": 0.85}
    memory = {"full": 4.0, "bitfit": 1.0, "lora": 1.5, "adapter_h": 2.0}  # GiB
    seconds = {"full": 40.0, "bitfit": 20.0, "lora": 25.0, "adapter_h": 10.0}
    records = []
    for method, score in scores.items():
        for seed in (1, 2, 3):
            record = run_record(method, seed, score)
            record["peak_memory_bytes"], record["peak_memory_kind"] = (
                int(memory[method] * 2**30),
                "cuda_allocated",
            )
            record["train"]["train_seconds"] = seconds[method]
            records.append(record)
    (ax,) = score_vs_memory(Results(records)).axes
    assert front_line(ax) == [(1.0, 0.81), (1.5, 0.88), (4.0, 0.91)]
    assert PARETO_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    (ax,) = score_vs_time(Results(records)).axes
    assert front_line(ax) == [(10.0, 0.85), (25.0, 0.88), (40.0, 0.91)]  # BitFit (20 s, 0.81) is dominated
    assert not [
        line
        for line in score_vs_params(Results(records)).axes[0].get_lines()
        if line.get_label() == PARETO_LABEL
    ]


def test_pareto_front_ties_and_lower_is_better():
    # an equal point once; at equal cost only the better score; an equal score at a higher cost is dominated
    points = [(2.0, 0.5), (1.0, 0.7), (1.0, 0.6), (3.0, 0.7), (2.0, 0.9), (2.0, 0.9), (5.0, 0.95)]
    assert pareto_front(points) == [(1.0, 0.7), (2.0, 0.9), (5.0, 0.95)]
    # a loss: lower is better
    assert pareto_front(points, higher=False) == [(1.0, 0.6), (2.0, 0.5)]


def test_rank_and_latency_figures(tmp_path, capsys):
    records = [
        run_record("lora", 1, 0.8 + 0.01 * r, method_cfg={"r": r}, method_params=9216 * r) for r in (1, 2, 8)
    ]
    for record in records:
        record["peak_memory_bytes"], record["peak_memory_kind"] = 2**30, "process_max_rss"
    write_records(tmp_path, records)
    for batch in (1, 4):
        write_json_atomic(
            tmp_path / "latency" / f"h{batch}.json", latency_record("adapter_h", batch, 128, 20, 26)
        )
    main([str(tmp_path), "--out", str(tmp_path / "figures")])
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert names == [
        f"{n}.{ext}"
        for n in ("latency_overhead", "score_vs_memory", "score_vs_params", "score_vs_rank", "score_vs_time")
        for ext in ("png", "svg")
    ]
    assert "skipped" not in capsys.readouterr().out


def test_no_records_no_figure(tmp_path):
    (tmp_path / "records").mkdir()
    with pytest.raises(ConfigError, match="support none"):
        main([str(tmp_path), "--out", str(tmp_path / "figures")])


def two_task_records() -> list[dict]:
    """Two tasks with a long metric name (a long y label); BitFit ran on the second task only."""
    records = [
        run_record(m, s, 0.5 + 0.1 * s, task="t1", metric="matthews_correlation")
        for m in ("full", "lora")
        for s in (1, 2)
    ]
    records += [
        run_record(m, s, 0.6 + 0.1 * s, task="t2", metric="matthews_correlation")
        for m in ("bitfit", "full", "lora")
        for s in (1, 2)
    ]
    return records


def test_a_method_keeps_its_colour_across_panels():
    figure = score_vs_params(Results(two_task_records()))
    first, second = figure.axes
    colours = [{c.get_label(): c.lines[0].get_color() for c in ax.containers} for ax in (first, second)]
    assert set(colours[0]) == {"FT", "LoRA"} and set(colours[1]) == {"BitFit", "FT", "LoRA"}
    assert all(colours[0][label] == colours[1][label] for label in colours[0])
    assert len(set(colours[1].values())) == 3


def test_long_y_labels_stay_clear_of_the_next_panel():
    figure = score_vs_params(Results(two_task_records()))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    first, second = figure.axes
    label = second.yaxis.label.get_window_extent(renderer)
    left = first.get_tightbbox(renderer)  # the first panel with its ticks, labels and legend
    assert len(second.get_ylabel()) > 40  # long enough to have overlapped
    assert label.x0 >= left.x1


def figure2_records() -> list[dict]:
    """The paper's Figure 2 on an open decoder: WikiSQL and MNLI as generation, LoRA at two |Θ| (r = 1: 3 seeds,
    mean 65.0 but median 60.0 on WikiSQL), FT and PreEmbed at one; one MNLI run with a classification head."""
    model, gen = "smollm2-360m", {"form": "generation"}
    records = []
    for method, settings, params, wikisql, mnli in [
        ("lora", {"r": 1}, 100, [0.50, 0.60, 0.85], [0.90, 0.91, 0.95]),
        ("lora", {"r": 8}, 800, [0.75], [0.92]),
        ("full", {}, 5000, [0.70], [0.89]),
        ("prefix_embed", {}, 30, [0.40], [0.80]),
    ]:
        common = {"model": model, "method_cfg": settings, "method_params": params}
        for seed, (w, m) in enumerate(zip(wikisql, mnli, strict=True), 1):
            records.append(run_record(method, seed, w, task="wikisql", metric="lf_accuracy", **common))
            records.append(run_record(method, seed, m, task="mnli", task_cfg=gen, **common))
    head = {"form": "classification"}
    records.append(run_record("lora", 1, 0.33, task="mnli", task_cfg=head, model=model, method_params=120))
    return records


def series_data(ax) -> dict[str, tuple[list[float], list[float]]]:
    return {
        c.get_label(): (list(c.lines[0].get_xdata()), list(c.lines[0].get_ydata())) for c in ax.containers
    }


def test_figure_2_score_against_params_per_method_on_wikisql_and_mnli(tmp_path, capsys):
    """``adaptbench plot`` on Figure 2's records: a WikiSQL panel and an MNLI-m panel (MNLI as generation, Table 4's
    column: mean over seeds, x100), one series per method with its points in order of |Θ|; the MNLI run with a
    classification head is GLUE's panel, never a point of the MNLI-m series."""
    root = write_records(tmp_path / "outputs", figure2_records())
    assert main([str(root), "--out", str(tmp_path / "figures")]) == 0
    assert str(tmp_path / "figures" / "score_vs_params.svg") in capsys.readouterr().out.splitlines()
    figure = score_vs_params(Results.from_dirs([str(root)]))
    panels = {ax.get_title(): ax for ax in figure.axes if ax.get_visible()}
    assert set(panels) == {"WikiSQL", "MNLI-m", "MNLI"}
    wikisql = series_data(panels["WikiSQL"])
    assert set(wikisql) == {"LoRA", "FT", "PreEmbed"}
    xs, ys = wikisql["LoRA"]
    assert xs == [100, 800] and ys == [pytest.approx(65.0), pytest.approx(75.0)]  # the mean of 50, 60, 85
    assert wikisql["FT"] == ([5000], [pytest.approx(70.0)])
    assert wikisql["PreEmbed"] == ([30], [pytest.approx(40.0)])
    mnli = series_data(panels["MNLI-m"])
    assert mnli["LoRA"] == ([100, 800], [pytest.approx(92.0), pytest.approx(92.0)])  # mean of 90, 91, 95
    assert series_data(panels["MNLI"]) == {"LoRA": ([120], [pytest.approx(33.0)])}  # median: GLUE's
    assert "mean over seeds" in panels["WikiSQL"].get_ylabel().replace("\n", " ")
    assert panels["WikiSQL"].get_xscale() == "log"
