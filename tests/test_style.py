"""The style sheet is package data and really colours what the roles say."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QLabel

from studio.ui import style


def _red_pixels(label: QLabel) -> int:
    image = label.grab().toImage()
    return sum(
        1
        for x in range(image.width())
        for y in range(image.height())
        if (c := image.pixelColor(x, y)).red() > 120 and c.green() < 60 and c.blue() < 80
    )


def test_roles_switch_the_look_at_run_time(qtbot):
    style.apply(QApplication.instance())
    label = QLabel("██████ problem ██████")
    qtbot.addWidget(label)
    label.show()
    style.set_role(label, "error")
    assert _red_pixels(label) > 20
    style.set_role(label, "status")  # the model panel goes back from an error
    assert _red_pixels(label) == 0


def test_a_role_set_before_a_widget_is_shown_colours_it_when_shown(qtbot):
    style.apply(QApplication.instance())
    label = QLabel("██████ problem ██████")
    qtbot.addWidget(label)
    style.set_role(label, "error")  # not polished yet: it is when shown
    label.show()
    assert _red_pixels(label) > 20
