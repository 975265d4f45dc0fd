"""The training curves and the int8-error plot: each figure on an axis of its own scale."""

from __future__ import annotations

from studio.ui.views.diagnosis_view import NOTICEABLE, DiagnosisView
from studio.ui.views.training_curves import TrainingCurves
from studio.values.metrics import LayerError


def _ys(plot) -> list[list[float]]:
    return [list(item.yData) for item in plot.listDataItems()]


def test_loss_and_accuracy_have_separate_axes(qtbot):
    """Issue 18: a loss of 2.3 and a top-1 of 0.98 on one axis flattened the accuracy."""
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    epochs = [("prune", {"loss": 2.3, "accuracy": 0.5}), ("prune", {"loss": 0.4, "accuracy": 0.98})]
    curves.show_curves("c001", epochs)
    assert _ys(curves.loss) == [[2.3, 0.4]] and _ys(curves.score) == [[0.5, 0.98]]
    # Named by colour in the title line (rotated axis titles ran over the tick labels).
    assert "loss ↓</span> above" in curves.title.text()
    assert "accuracy ↑</span> below" in curves.title.text()
    ticks = curves.score.getAxis("bottom")._tickLevels
    assert ticks == [[(1, "1"), (2, "2")]]  # whole epochs, not 0.5, 1, 1.5
    curves.show_curves("c002", [("cluster", {"loss": 0.1, "mae": 0.2})])
    assert _ys(curves.score) == [[0.2]] and "MAE ↓</span> below" in curves.title.text()


def test_the_int8_error_axis_says_what_is_bad(qtbot):
    view = DiagnosisView()
    qtbot.addWidget(view)
    view.show_errors([LayerError("dense", "FULLY_CONNECTED", 0.2, 0.3, None, None)])
    axis = view.plot.getAxis("bottom")  # horizontal bars: the error runs along x
    assert not axis.autoSIPrefix and str(NOTICEABLE) in axis.toolTip()
    assert view.plot.getAxis("left")._tickLevels == [[(0, "dense")]]  # names read across
    lines = [i for i in view.plot.plotItem.items if type(i).__name__ == "InfiniteLine"]
    assert [line.value() for line in lines] == [NOTICEABLE]
