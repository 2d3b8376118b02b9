"""`workbench bench --plot`: the load curve of one or two endpoints drawn by matplotlib, as SVG and PNG, from a real
sweep against the project's own endpoint (once by URL, once as a registered remote)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from tests.serve_support import serving, tiny_workbench
from workbench.cli import main
from workbench.errors import InvalidParameter
from workbench.measure.bench import LevelResult
from workbench.measure.bench_plot import PANELS, sweep_figure

SWEEP = ["-c", "1,2", "--max-tokens", "3", "--requests", "1", "--chat"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("bench-side"), tiny_model_path)
    with serving(wb) as server:
        yield server.url
    wb.close()


def _svg_texts(path) -> str:
    """matplotlib draws text as glyph paths and writes each string beside them as an XML comment."""
    return path.read_text(encoding="utf-8")


def test_two_endpoints_one_svg_with_a_line_each(served, tmp_path, capsys):
    assert main(["remote", "add", "side", served, "--model", "terse"]) == 0
    capsys.readouterr()
    plot = tmp_path / "curve.svg"
    assert main(["bench", served, "remote:side", "-m", "terse", *SWEEP, "--json", "--plot", str(plot),
                 "--label", "by URL", "--label", "remote:side"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert list(rows) == ["by URL", "remote:side"]
    assert all([level["concurrency"] for level in rows[label]] == [1, 2] for label in rows)
    root = ET.parse(plot).getroot()  # a well-formed SVG document
    assert root.tag.endswith("svg")
    text = _svg_texts(plot)
    assert "by URL" in text and "remote:side" in text and "Throughput" in text and "Time to first token" in text


def test_png_plot_of_one_endpoint(served, tmp_path, capsys):
    plot = tmp_path / "curve.png"
    assert main(["bench", served, "-m", "terse", *SWEEP, "--plot", str(plot)]) == 0
    assert "load curve written to" in capsys.readouterr().out
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.width > image.height > 300


def test_a_plot_file_that_is_not_svg_or_png_is_refused_before_the_sweep(tmp_path, capsys):
    assert main(["bench", "http://127.0.0.1:9", "-m", "x", "--plot", str(tmp_path / "curve.pdf")]) == 1
    assert ".svg or .png" in capsys.readouterr().err


def _level(concurrency: int, tps: float) -> LevelResult:
    return LevelResult(concurrency=concurrency, requests=2, errors=0, seconds=1.0, output_tokens=int(tps),
                       tokens_per_second=tps, ttft_p50=0.01 * concurrency, ttft_p95=0.02 * concurrency,
                       itl_p50=0.005, itl_p95=0.008 * concurrency)


def test_the_figure_has_a_line_per_endpoint_and_measure_in_every_panel():
    series = {"a": [_level(1, 10.0), _level(4, 30.0)], "b": [_level(1, 12.0), _level(2, 20.0), _level(4, 25.0)]}
    figure = sweep_figure(series)
    for ax, (_title, _label, fields, _to_ms) in zip(figure.axes, PANELS, strict=True):
        assert len(ax.get_lines()) == len(series) * len(fields)
        assert [tick for tick in ax.get_xticks()] == [1, 2, 4]  # the measured levels
    throughput = figure.axes[0].get_lines()
    assert list(throughput[1].get_ydata()) == [12.0, 20.0, 25.0]
    assert list(figure.axes[2].get_lines()[0].get_ydata()) == pytest.approx([8.0, 32.0])  # seconds → ms


def test_nothing_to_plot_is_a_clear_error():
    with pytest.raises(InvalidParameter, match="no sweep"):
        sweep_figure({"a": []})
