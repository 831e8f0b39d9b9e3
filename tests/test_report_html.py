"""``adaptbench report DIR --out report.html`` on hand-written records: the page parses (WHATWG parser, strict),
holds every record's score and the paper's numbers beside ours, names no URL, and in a real headless browser
(Debian's ``chromium`` + ``chromium-driver``, driven by selenium) renders, sorts and filters."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _records_util import latency_record, run_record, write_records

from adaptbench.harness.records.store import write_json_atomic
from adaptbench.harness.report.page import main, sort_value

# sst2 scores (fractions in the records, 0-100 in the tables), seeds 1 and 2
SST2 = {"full": (0.941, 0.947), "lora": (0.952, 0.948)}
VADER = {"bitfit": (0.8125, 0.8375)}


def page_records() -> list[dict]:
    records = [
        run_record(m, s, v, task="sst2", model="roberta-base")
        for m, vs in SST2.items()
        for s, v in enumerate(vs, 1)
    ]
    for i, record in enumerate(records):
        record["peak_memory_bytes"], record["peak_memory_kind"] = (2 + i) * 2**30, "process_max_rss"
    records += [run_record("bitfit", s, v) for s, v in enumerate(VADER["bitfit"], 1)]  # task vader, minilm-l6
    records.append(run_record("lora", 1, None, status="failed"))
    return records


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = write_records(tmp_path_factory.mktemp("outputs"), page_records())
    for batch in (1, 4):
        write_json_atomic(
            root / "latency" / f"h{batch}.json", latency_record("adapter_h", batch, 128, 20, 26)
        )
    out = root / "site" / "report.html"
    assert main([str(root), "--out", str(out)]) == 0
    return out


def parsed(page: Path):
    html5lib = pytest.importorskip("html5lib", reason="html5lib (the test extra) checks that the page parses")
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(page.read_text(encoding="utf-8"))  # strict: any parse error raises


def tables(document) -> dict[str, list[list[str]]]:
    """Each table by its heading: its rows' cell texts (the [paper ...] part included)."""
    found = {}
    for section in document.iter("section"):
        heading = "".join(section.find("h2").itertext())
        rows = section.find(".//tbody").findall("tr")
        found[heading] = [
            [" ".join("".join(td.itertext()).split()) for td in row.findall("td")] for row in rows
        ]
    return found


def test_the_page_parses_and_holds_every_records_score(page):
    found = tables(parsed(page))
    (runs,) = [rows for title, rows in found.items() if title.startswith("Run records")]
    by_cell = {(row[1], row[2], row[3]): row for row in runs}  # method, task, seed
    assert len(runs) == 7
    expected = {
        ("FT", "sst2", "1"): "94.1",
        ("FT", "sst2", "2"): "94.7",
        ("LoRA", "sst2", "1"): "95.2",
        ("LoRA", "sst2", "2"): "94.8",
        ("BitFit", "vader", "1"): "0.8125",
        ("BitFit", "vader", "2"): "0.8375",
        ("LoRA", "vader", "1"): "-",
    }
    assert {key: by_cell[key][5] for key in expected} == expected
    assert by_cell[("LoRA", "vader", "1")][4] == "failed"
    assert by_cell[("FT", "sst2", "2")][8] == "3.00"  # GiB, the second record's 3 * 2**30 bytes


def test_the_papers_numbers_stand_beside_ours(page):
    found = tables(parsed(page))
    (glue,) = [rows for title, rows in found.items() if title.startswith("GLUE")]
    sst2 = 4  # Model, Method, |Θ|, MNLI, SST-2
    lora = next(row for row in glue if row[:2] == ["RoBERTa-base", "LoRA"])
    assert lora[sst2] == "95.0 ±0.3 n=2 [paper 95.1, Δ -0.1]"  # median of 95.2 and 94.8; Table 2: 95.1
    ft = next(row for row in glue if row[:2] == ["RoBERTa-base", "FT"])
    assert ft[sst2] == "94.4 ±0.4 n=2 [paper 94.8, Δ -0.4]"
    assert any(row[1] == "AdapterD* (paper)" for row in glue)  # the paper's rows we have no runs of
    assert any(title.startswith("latency: gpt2-medium") for title in found)
    (auto,) = [rows for title, rows in found.items() if title.startswith("tasks without a paper table")]
    assert auto == [  # a task no paper table has: median 0.8250 of 0.8125 and 0.8375, and the failed run
        ["minilm-l6", "BitFit", "0.03M", "0.8250 ±0.0177 n=2"],
        ["minilm-l6", "LoRA", "-", "n=0 (1 failed)"],
    ]


def test_the_page_names_no_url_and_inlines_its_figures(page):
    html = page.read_text(encoding="utf-8")
    # no src/href/action to another place (scheme or protocol-relative), no CSS url() or @import
    assert not re.findall(
        r"""(?:src|href|action|poster)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)""", html, re.I
    )
    assert not re.findall(r"url\(\s*['\"]?(?!#)", html)  # the SVGs' clip-path="url(#id)" stay in the page
    assert "@import" not in html and "<link" not in html
    assert not re.findall(r"<script[^>]+src", html)
    document = parsed(page)
    figures = {f.get("id"): f for f in document.iter("figure")}
    assert set(figures) == {"score_vs_params", "score_vs_memory", "score_vs_time", "latency_overhead"}
    assert all(f.find("{http://www.w3.org/2000/svg}svg") is not None for f in figures.values())
    assert "trainable parameters |Θ|" in "".join(figures["score_vs_params"].itertext())
    assert "score_vs_rank: not drawn, no method has records at more than one r" in html


def test_sort_values_of_formatted_cells():
    assert [sort_value(t) for t in ("0.08M", "9,216", "12.3 ms +5.0% n=3", "-", "missing", "base")] == [
        80_000.0,
        9216.0,
        12.3,
        None,
        None,
        "base",
    ]


def test_bad_input_one_line_and_no_page(tmp_path):
    (tmp_path / "records").mkdir()
    out = tmp_path / "report.html"
    for argv, message in (
        ([str(tmp_path), "--out", str(out)], "no run or latency records under"),
        (
            [str(tmp_path), "--out", str(out), "--compare", "papers"],
            "--compare='papers' is not valid; choose one of",
        ),
        ([str(tmp_path / "nowhere"), "--out", str(out)], "is not a directory"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "adaptbench.harness.cli", "report", *argv], capture_output=True, text=True
        )
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


# --------------------------------------------------------------------------------------------- browser
def browser():
    """A headless Chromium under selenium, or a skip that says what is missing."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
    )
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip(
            "no headless browser: install Debian's chromium and chromium-driver (apt-get install chromium "
            "chromium-driver) to render the page"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))


def runs_section(driver):
    from selenium.webdriver.common.by import By

    return next(
        s
        for s in driver.find_elements(By.CSS_SELECTOR, "section.table")
        if s.find_element(By.TAG_NAME, "h2").text.startswith("Run records")
    )


def visible_rows(section) -> list:
    from selenium.webdriver.common.by import By

    return [row for row in section.find_elements(By.CSS_SELECTOR, "tbody tr") if row.is_displayed()]


def column_values(section, header: str) -> list[str | None]:
    from selenium.webdriver.common.by import By

    headers = [th.text.rstrip(" ▲▼") for th in section.find_elements(By.TAG_NAME, "th")]
    index = headers.index(header)
    return [
        row.find_elements(By.TAG_NAME, "td")[index].get_attribute("data-sort")
        for row in visible_rows(section)
    ]


def test_the_page_renders_sorts_and_filters_in_a_headless_browser(page, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser()
    try:
        driver.get(page.as_uri())
        glue = driver.find_element(By.CSS_SELECTOR, "section.table table")
        assert glue.is_displayed() and glue.size["height"] > 100
        assert "FT" in glue.text and "95.0 ±0.3 n=2" in glue.text
        runs = runs_section(driver)
        assert len(visible_rows(runs)) == 7
        assert (
            driver.find_element(By.ID, "shown").text == f"{len(visible_rows_everywhere(driver))} rows shown"
        )

        header = next(th for th in runs.find_elements(By.TAG_NAME, "th") if th.text == "Score")
        header.click()  # ascending, the failed run's empty score last
        scores = column_values(runs, "Score")
        assert scores[-1] is None and [float(s) for s in scores[:-1]] == sorted(float(s) for s in scores[:-1])
        assert float(scores[0]) == pytest.approx(0.8125)
        header.click()  # descending, still the empty score last
        scores = column_values(runs, "Score")
        assert float(scores[0]) == pytest.approx(95.2) and scores[-1] is None

        Select(driver.find_element(By.CSS_SELECTOR, "select[data-facet=method]")).select_by_visible_text(
            "LoRA"
        )
        methods = [row.find_elements(By.TAG_NAME, "td")[1].text for row in visible_rows(runs)]
        assert methods == ["LoRA", "LoRA", "LoRA"]  # sst2 seeds 1 and 2, the failed vader run
        Select(driver.find_element(By.CSS_SELECTOR, "select[data-facet=task]")).select_by_visible_text("sst2")
        assert len(visible_rows(runs)) == 2
        glue_headers = [th.text for th in glue.find_elements(By.TAG_NAME, "th") if th.is_displayed()]
        assert glue_headers == ["Model", "Method", "|Θ|", "SST-2", "Avg."]  # the other tasks' columns hidden

        Select(driver.find_element(By.CSS_SELECTOR, "select[data-facet=method]")).select_by_visible_text(
            "all"
        )
        Select(driver.find_element(By.CSS_SELECTOR, "select[data-facet=task]")).select_by_visible_text("all")
        driver.find_element(By.ID, "filter-text").send_keys("vader")
        assert len(visible_rows(runs)) == 3
        assert (
            driver.find_element(By.ID, "shown").text == f"{len(visible_rows_everywhere(driver))} rows shown"
        )

        shot = tmp_path / "page.png"
        driver.save_screenshot(str(shot))
        colours = Image.open(shot).convert("L").getextrema()
        assert colours[1] - colours[0] > 100  # text on a background, not a blank page
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


def visible_rows_everywhere(driver) -> list:
    from selenium.webdriver.common.by import By

    return [
        row for row in driver.find_elements(By.CSS_SELECTOR, "section.table tbody tr") if row.is_displayed()
    ]
