"""The window's questions and messages: file choosers, errors, trust, running jobs, about.

Each is a plain function taking the parent window, so the window's methods stay one
line of wiring each, and tests can replace any question without a modal dialog.
Message boxes are non-blocking (`open`, not `exec`): the window stays usable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.values.resources import RESOURCES

MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5);;All files (*)"
ABOUT_PACKAGES = [
    ("TFLite Optimization Studio", "tflite-studio"),
    ("TensorFlow", "tensorflow"),
    ("tf_keras", "tf-keras"),
    ("TensorFlow Model Optimization", "tensorflow-model-optimization"),
    ("LiteRT", "ai-edge-litert"),
    ("pyqtgraph", "pyqtgraph"),
]


def open_file(parent: QWidget, title: str, start: str, kinds: str) -> str:
    return QFileDialog.getOpenFileName(parent, title, start, kinds)[0]


def open_folder(parent: QWidget, title: str, start: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title, start)


def save_file(parent: QWidget, title: str, start: str, kinds: str) -> str:
    return QFileDialog.getSaveFileName(parent, title, start, kinds)[0]


def show_error(parent: QWidget, title: str, text: str) -> QMessageBox:
    """A warning that does not block: the window stays usable behind it."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def ask_trust(parent: QWidget, message: str, on_trust: Callable[[], None]) -> QMessageBox:
    """The file would run code when loaded: `on_trust` runs only if the user says so."""
    box = QMessageBox(QMessageBox.Icon.Warning, "This model file contains code", "", parent=parent)
    box.setText(
        f"{message}.\n\nTrust it only if you wrote it or got it from someone you "
        "trust: its code runs with your permissions."
    )
    box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    trust = box.addButton("Trust and open", QMessageBox.ButtonRole.AcceptRole)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.buttonClicked.connect(lambda button: on_trust() if button is trust else None)
    box.open()
    return box


def _running_question(parent: QWidget, title: str, pending: str, what_then: str) -> QMessageBox:
    box = QMessageBox(
        QMessageBox.Icon.Question,
        title,
        f"{pending[:1].upper()}{pending[1:]} of this session are still running or queued.",
        parent=parent,
    )
    box.setInformativeText(what_then)
    return box


def ask_about_running(parent: QWidget, pending: str) -> str | None:
    """Jobs run and the user opens something else: "keep" (they finish in their own
    session), "cancel", or None (don't open).  `pending`: what runs, in words."""
    box = _running_question(
        parent,
        "Jobs are still running",
        pending,
        "Let them finish: their results are saved in this session (File → Recent "
        "sessions reopens it). Cancel them: their work so far is lost.",
    )
    keep = box.addButton("Let them finish", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton("Cancel them", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Don't open", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return {keep: "keep", cancel: "cancel"}.get(box.clickedButton())


def confirm_quit(parent: QWidget, pending: str) -> bool:
    """Quit while jobs run?  Default: keep working."""
    box = _running_question(
        parent,
        "Quit while jobs run?",
        pending,
        "Quitting stops them: each is marked interrupted, and its row offers Run again "
        "when you reopen the session. What is finished is saved either way.",
    )
    quit_ = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is quit_


def confirm(parent: QWidget, title: str, text: str) -> bool:
    """A yes/no question whose default is no (for what cannot be undone)."""
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


DATA_FILTER = "NumPy data (*.npz);;All files (*)"


def ask_for_data(parent: QWidget, model: str, start: str) -> str | None:
    """A model of the user's was opened with no data: its own data, or the demo digits
    knowingly.  Returns a path, "demo", or None (don't open the model)."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Which data is this model for?",
        f"{Path(model).name} needs its own data to be calibrated, fine-tuned and measured.",
        parent=parent,
    )
    box.setInformativeText(
        "Choose a .npz file (arrays x and y, or one per input and output) or an image "
        "folder (one sub-folder per class). The bundled demo digits only fit the demo: "
        "on them your model's accuracy figures mean nothing."
    )
    npz = box.addButton("Choose a .npz file…", QMessageBox.ButtonRole.AcceptRole)
    folder = box.addButton("Choose an image folder…", QMessageBox.ButtonRole.AcceptRole)
    demo = box.addButton("Use the demo digits anyway", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Don't open", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(npz)
    box.exec()
    clicked = box.clickedButton()
    if clicked is npz:
        return open_file(parent, "Choose data", start, DATA_FILTER) or None
    if clicked is folder:
        return open_folder(parent, "Choose an image folder", start) or None
    return "demo" if clicked is demo else None


def choose_start(
    parent: QWidget,
    model: str,
    sessions: list,
    last_data: str | None,
    ask_data: Callable[[], str | None],
) -> tuple[str, str] | None:
    """A model with earlier work: reopen one of its sessions (newest first, each with
    its data, date and candidate count), or start a new one with the data it was last
    used with, or with other data.  Returns ("session", folder), ("data", path) or None."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"Open {Path(model).name}")
    layout = QVBoxLayout(dialog)
    layout.addWidget(QLabel(f"{Path(model).name} has earlier sessions. Go back to one:"))
    listing = QListWidget()
    for info in sessions:
        listing.addItem(info.title())
        listing.item(listing.count() - 1).setToolTip(f"{info.folder}\ndata: {info.data}")
    listing.setCurrentRow(0)
    layout.addWidget(listing)
    buttons = QDialogButtonBox()
    reopen = buttons.addButton("Reopen session", QDialogButtonBox.ButtonRole.AcceptRole)
    reopen.setDefault(True)
    fresh = None
    if last_data:
        fresh = buttons.addButton(
            f"New session on {Path(last_data).name}", QDialogButtonBox.ButtonRole.ActionRole
        )
    other = buttons.addButton("New session, other data…", QDialogButtonBox.ButtonRole.ActionRole)
    buttons.addButton("Don't open", QDialogButtonBox.ButtonRole.RejectRole)
    layout.addWidget(buttons)
    chosen: list[QPushButton] = []
    buttons.clicked.connect(lambda button: (chosen.append(button), dialog.done(0)))
    listing.itemDoubleClicked.connect(lambda _item: (chosen.append(reopen), dialog.done(0)))
    dialog.exec()
    button = chosen[0] if chosen else None
    if button is reopen and listing.currentRow() >= 0:
        return "session", str(sessions[listing.currentRow()].folder)
    if button is not None and button is fresh:
        return "data", str(last_data)
    if button is other:
        data = ask_data()
        return None if data is None else ("data", data)
    return None


def about_text() -> str:
    """What the studio is, and the versions it runs on (read from package metadata, so
    the window's process still never imports TensorFlow)."""
    from importlib import metadata

    import PySide6
    from PySide6.QtCore import qVersion

    lines = []
    for shown, name in ABOUT_PACKAGES:
        try:
            lines.append(f"{shown} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{shown}: not installed")
    lines.append(f"Qt {qVersion()} (PySide6 {PySide6.__version__})")
    lines += optional_extras()
    return (
        "<p><b>TFLite Optimization Studio</b></p>"
        "<p>Quantize, prune and cluster Keras models for LiteRT, and see what each "
        "technique does to size, accuracy and latency.</p><p>" + "<br>".join(lines) + "</p>"
    )


def optional_extras() -> list[str]:
    """One line per optional extra (a mode's maker, running on a cluster): its version,
    or how to install it."""
    from importlib import metadata

    from studio.values import cluster, modes

    def installed(module: str) -> str:
        try:
            return metadata.version(module.replace("_", "-"))
        except metadata.PackageNotFoundError:
            return "installed"

    extras = [
        (f"{m.short} ({m.maker})", m.needs[0], modes.missing(m.name), modes.install_command(m.name))
        for m in modes.offered()
        if m.needs
    ] + [
        (f"{p.label} (Ray)", p.needs[0], cluster.missing(p.name), cluster.RAY_INSTALL)
        for p in cluster.PLACES.values()
        if p.needs
    ]
    return [
        f"{label}: not installed — {install}" if problem else f"{label} {installed(module)}"
        for label, module, problem, install in extras
    ]


def about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About TFLite Optimization Studio", about_text())


def shortcuts_html(actions: list[QAction]) -> str:
    """Every command that has a key, with what it does: the Help menu's list (built from
    the actions themselves, so it never disagrees with the menus)."""
    rows = "".join(
        f"<tr><td><b>{a.shortcut().toString(a.shortcut().SequenceFormat.NativeText)}</b>"
        f"&nbsp;&nbsp;</td><td>{a.text().replace('&', '').rstrip('…')}</td>"
        f"<td style='color:#555'>&nbsp;&nbsp;{a.toolTip()}</td></tr>"
        for a in actions
        if not a.shortcut().isEmpty()
    )
    return f"<table cellspacing=4>{rows}</table>"


def readme_markdown() -> str:
    """The README: beside the resources in a checkout, else as installed with the
    package (its metadata carries it), so the walkthrough works offline, in a wheel and
    in the bundle alike."""
    from importlib import metadata

    beside = RESOURCES.parent / "README.md"
    if beside.is_file():
        return beside.read_text(encoding="utf-8")
    try:
        meta = metadata.metadata("tflite-studio")
    except metadata.PackageNotFoundError:
        return "The README is not installed with this copy of the studio."
    return meta.get_payload() or meta.get("Description") or ""


# The README's sections for the window's user (set-up, benchmarks, the command line,
# packaging and architecture are for developers and scripts).
USER_SECTIONS = ("Five minutes on the demo", "The window, part by part", "Troubleshooting")


def walkthrough_markdown(readme: str) -> str:
    """The README's introduction and its user sections, in order."""
    parts = re.split(r"(?m)^(?=## )", readme)
    kept = [parts[0]] + [
        p for p in parts[1:] if p.splitlines()[0].removeprefix("## ").strip() in USER_SECTIONS
    ]
    return "".join(kept)


IMAGE_WIDTH = 700  # pixels: the walkthrough's screenshots, scaled to its window


def _fit_images(text: QTextBrowser) -> None:
    """Screenshots at the walkthrough's width, not their 1366 pixels."""
    cursor = QTextCursor(text.document())
    block = text.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fmt.isImageFormat():
                image = fmt.toImageFormat()
                pixmap = text.loadResource(QTextDocument.ResourceType.ImageResource, image.name())
                if pixmap is not None and hasattr(pixmap, "width") and pixmap.width():
                    image.setWidth(IMAGE_WIDTH)
                    image.setHeight(IMAGE_WIDTH * pixmap.height() / pixmap.width())
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(
                        fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor
                    )
                    cursor.setCharFormat(image)
            it += 1
        block = block.next()


def show_text(parent: QWidget, title: str, *, html: str = "", markdown: str = "") -> QDialog:
    """A non-modal, resizable text window (shortcuts, the walkthrough).  Images named as
    the README names them (`resources/screens/...`) are found beside the resources."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    text = QTextBrowser()
    text.setOpenExternalLinks(True)
    text.setSearchPaths([str(RESOURCES.parent)])
    if markdown:
        text.setMarkdown(markdown)
        _fit_images(text)
    else:
        text.setHtml(html)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(text)
    layout.addWidget(buttons)
    dialog.resize(760, 560)
    dialog.show()
    return dialog
