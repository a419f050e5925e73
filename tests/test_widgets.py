"""Tests of helpers.widgets: the explorer's AP and drawing against a brute-force ranking."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from helpers import widgets  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def retrieval_set():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 6, 6, 3), dtype=np.uint8)
    labels = np.repeat([0, 1, 2], 4)
    codes = {"layer 6": rng.normal(size=(12, 5)), "layer 7": rng.normal(size=(12, 3))}
    return images, codes, labels


def _brute_force(codes, labels, query):
    """Ranking by distance of normalised codes (query dropped) and its AP by the definition."""
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    distances = ((unit - unit[query]) ** 2).sum(axis=1)
    ranking = [i for i in np.argsort(distances, kind="stable") if i != query]
    relevant = labels[ranking] == labels[query]
    precisions = [relevant[: rank + 1].mean() for rank in range(len(ranking)) if relevant[rank]]
    return np.array(ranking), float(np.mean(precisions))


def test_explore_query_reports_the_brute_force_ap_and_draws_the_nearest_images(retrieval_set):
    images, codes, labels = retrieval_set
    explorer = widgets.RetrievalExplorer(images, codes, labels, class_names=["a", "b", "c"])
    for query, name in ((0, "layer 6"), (7, "layer 7"), (11, "layer 6")):
        figure, ap = explorer.explore_query(query, name, k=4)
        ranking, expected_ap = _brute_force(codes[name], labels, query)
        assert ap == pytest.approx(expected_ap)
        retrieved_axes = figure.axes[1:]
        assert len(retrieved_axes) == 4
        for ax, index in zip(retrieved_axes, ranking[:4]):
            np.testing.assert_array_equal(ax.images[0].get_array(), images[index])
            expected = "green" if labels[index] == labels[query] else "red"
            assert {to_rgba(s.get_edgecolor()) for s in ax.spines.values()} == {to_rgba(expected)}
            assert ax.get_title().endswith("abc"[labels[index]])
        assert figure.axes[0].get_title() == f"query\n{'abc'[labels[query]]}\nAP {expected_ap:.3f}"


def test_unknown_codes_or_out_of_range_k_are_refused(retrieval_set):
    explorer = widgets.RetrievalExplorer(*retrieval_set)
    with pytest.raises(ValueError, match="layer 6"):
        explorer.explore_query(0, "fc8", k=3)
    with pytest.raises(ValueError, match="k in 1..11"):
        explorer.explore_query(0, "layer 6", k=12)


def test_codes_with_a_different_number_of_rows_are_refused(retrieval_set):
    images, codes, labels = retrieval_set
    with pytest.raises(ValueError, match="rows for 12 images"):
        widgets.RetrievalExplorer(images, {"bad": codes["layer 6"][:5]}, labels)


def test_the_widget_box_redraws_and_updates_the_ap_when_a_control_changes(retrieval_set):
    images, codes, labels = retrieval_set
    box = widgets.retrieval_explorer(images, codes, labels, max_k=30)
    controls, ap_label, _ = box.children
    query, dropdown, k = controls.children
    assert (query.max, k.max, list(dropdown.options)) == (11, 11, ["layer 6", "layer 7"])
    assert ap_label.value.endswith(f"{_brute_force(codes['layer 6'], labels, 0)[1]:.3f}")
    query.value = 9
    dropdown.value = "layer 7"
    expected = _brute_force(codes["layer 7"], labels, 9)[1]
    assert ap_label.value == f"AP of query 9 with layer 7 codes (query excluded): {expected:.3f}"
    assert plt.get_fignums() == [], "the widget closes its figures"


def test_the_explorer_is_not_built_while_grading(monkeypatch, capsys):
    # make grade (scripts/grade.py) sets COURSE_GRADING for the submission's kernel.
    monkeypatch.setenv("COURSE_GRADING", "1")
    codes = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [1.0, 0.1]])
    assert widgets.retrieval_explorer(np.zeros((4, 8, 8)), {"fc7": codes}, [0, 0, 1, 1]) is None
    assert "not built while grading" in capsys.readouterr().out
