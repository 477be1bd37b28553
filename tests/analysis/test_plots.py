"""Analysis figures: PNGs of a readable size with real content, one per language and kind."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from xladjust.analysis.plots import (
    plot_change_histograms,
    plot_delta_histograms,
    plot_distance_histograms,
    plot_language_figures,
)
from xladjust.analysis.word_distances import draw_link_sample, word_distance_table


@pytest.fixture(scope="module")
def tables():
    """Three models on one LinkSample: random, adjusted (partners pulled close), identical to adjusted."""
    rng = np.random.default_rng(0)
    pair = np.repeat(np.arange(80), rng.integers(3, 10, 80))
    words = np.arange(len(pair))
    en = rng.normal(size=(len(pair), 24))
    base = rng.normal(size=(len(pair), 24))
    adjusted = en + 0.5 * rng.normal(size=en.shape)
    sample = draw_link_sample(words, words, pair, seed=0)
    return {
        "xlm-r": word_distance_table(base, en, sample),
        "xlm-r adjusted": word_distance_table(adjusted, en, sample),
        "copy": word_distance_table(adjusted.copy(), en, sample),
    }


def assert_readable_png(path, min_panels: int = 1):
    assert path.is_file() and path.suffix == ".png"
    assert path.stat().st_size > 10_000  # axes, bars and text, not a blank canvas
    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert width > 400 * min_panels and height > 300
    assert pixels.std() > 10  # far from uniform


def test_distance_and_delta_histograms(tables, tmp_path):
    for plot in (plot_distance_histograms, plot_delta_histograms):
        path = plot(tables, "de", "cosine", tmp_path / "nested" / f"{plot.__name__}.png")
        assert_readable_png(path, min_panels=3)


def test_single_model_figures(tables, tmp_path):
    path = plot_distance_histograms({"xlm-r": tables["xlm-r"]}, "sw", "euclidean", tmp_path / "one.png")
    assert_readable_png(path)


def test_change_histograms_default_and_chosen_pairs(tables, tmp_path):
    # Default: every pair in order (3 panels), including an all-zero change (adjusted → copy).
    assert_readable_png(plot_change_histograms(tables, "de", "cosine", tmp_path / "all.png"), min_panels=3)
    chosen = plot_change_histograms(tables, "de", "cosine", tmp_path / "one.png", [("xlm-r", "xlm-r adjusted")])
    assert_readable_png(chosen)
    with pytest.raises(ValueError, match="two models"):
        plot_change_histograms({"xlm-r": tables["xlm-r"]}, "de", "cosine", tmp_path / "none.png")
    with pytest.raises(ValueError, match="unknown models"):
        plot_change_histograms(tables, "de", "cosine", tmp_path / "bad.png", [("xlm-r", "mbert")])


def test_language_figures(tables, tmp_path):
    paths = plot_language_figures(tables, "de", "cosine", tmp_path)
    assert sorted(paths) == ["changes", "delta", "distances"]
    assert paths["delta"] == tmp_path / "de_cosine_delta.png"
    for path in paths.values():
        assert_readable_png(path)
    single = plot_language_figures({"xlm-r": tables["xlm-r"]}, "sw", "cosine", tmp_path)
    assert sorted(single) == ["delta", "distances"]


def test_no_change_figure_without_a_pair_to_compare(tables, tmp_path):
    paths = plot_language_figures(tables, "de", "cosine", tmp_path, model_pairs=[])
    assert set(paths) == {"distances", "delta"} and not (tmp_path / "de_cosine_changes.png").exists()
