"""An eval run's progress line: a thin bar, then cells done / total, the rate, the ETA and the current target."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from workbench.tasks import Progress


def human_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_text(progress: Progress) -> str:
    text = f"{progress.completed}/{progress.total} cells"
    if progress.rate:
        text += f" · {progress.rate:.1f} cells/s" if progress.rate >= 1 else f" · {1 / progress.rate:.1f} s/cell"
    if progress.eta_seconds is not None and not progress.done:
        text += f" · ETA {human_seconds(progress.eta_seconds)}"
    return text + (f" · {progress.message}" if progress.message else "")


class RunProgress(QWidget):
    def __init__(self):
        super().__init__()
        self.bar = QProgressBar(textVisible=False, maximumHeight=10)
        self.label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.label)

    def show_progress(self, progress: Progress) -> None:
        self.bar.setMaximum(progress.total or 0)
        self.bar.setValue(progress.completed)
        self.label.setText(progress_text(progress))

    def stopping(self) -> None:
        self.label.setText(self.label.text() + " · stopping…")

    def text(self) -> str:
        return self.label.text()
