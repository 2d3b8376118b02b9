"""Hub page: search GGUF repositories, list a repo's files with a fits / tight / won't-fit badge, pull them.

Every Hub call (search, listing, the per-file estimates from GGUF headers, pulls) runs on the TaskRunner; the GUI
thread only fills tables. Offline mode greys the page out and says why; nothing here then touches the network.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.hub.refs import is_projector
from workbench.hub.types import GGUFEntry, HubRef, RepoListing
from workbench.units import human_count, human_size

from ..theme import is_dark
from ..widgets.downloads import DownloadsPanel
from ..widgets.layout import hrow, list_table, vcolumn
from .base import Page

SORTS = ("downloads", "likes", "updated", "trending")
BADGES = {  # verdict -> (light background, dark background)
    "fits": ("#c8ecd0", "#1f5130"), "tight": ("#fbe3b0", "#6a4a12"), "won't fit": ("#f6c5c5", "#6e2323"),
    "unknown": ("#e2e2e2", "#44464b"),
}


def file_ref(listing: RepoListing, entry: GGUFEntry) -> str:
    """The exact file at the listed commit: what the pull and the estimate of one row ask for."""
    return str(HubRef(listing.repo, filename=entry.files[0].path, revision=listing.revision))


def estimates(hub, listing: RepoListing, context: int, *, on_progress, cancel):
    """(row, verdict, explanation) for each entry, one header fetch at a time; stops when cancelled."""
    for row, entry in enumerate(listing.entries):
        if cancel.cancelled:
            return
        try:
            fit = hub.estimate(file_ref(listing, entry), context=context, cancel=cancel)
            yield row, fit.verdict, fit.summary()
        except WorkbenchError as exc:  # one unreadable header must not hide the other badges
            yield row, "unknown", str(exc)


class HubPage(Page):
    name = "Hub"

    def __init__(self, window):
        super().__init__(window)
        self.listing: RepoListing | None = None
        self._estimate_task = None
        self.offline_banner = QLabel(wordWrap=True)
        self.offline_banner.setStyleSheet("QLabel { background: #fbe3b0; color: #3a2a00; padding: 8px; }")
        self.content = QWidget()
        self._build_content()
        layout = QVBoxLayout(self)
        layout.addWidget(self.offline_banner)
        layout.addWidget(self.content, 1)
        self.settings_changed()

    def _build_content(self) -> None:
        self.query = QLineEdit(placeholderText="Search GGUF models on the Hugging Face Hub (e.g. qwen, gemma)")
        self.query.returnPressed.connect(self.search)
        self.sort = QComboBox()
        self.sort.addItems(list(SORTS))
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        bar = hrow((self.query, 1), QLabel("sort by"), self.sort, self.search_button)
        self.results = list_table(["Repository", "Downloads", "Likes", "Updated"])
        self.results.itemSelectionChanged.connect(self._repo_selected)
        self.files = list_table(["File", "Quantization", "Size", "Fit"])
        self.files.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        self.files.horizontalHeader().resizeSection(3, 90)  # room for "won't fit"
        self.files.itemSelectionChanged.connect(lambda: self.pull_button.setEnabled(self.selected_entry() is not None))
        self.pull_button = QPushButton("Pull selected file", enabled=False)
        self.pull_button.clicked.connect(self.pull_selected)
        self.fit_note = QLabel("")
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.results)
        top.addWidget(vcolumn((self.files, 1), hrow((self.fit_note, 1), self.pull_button)))
        top.setSizes([520, 600])
        self.downloads = DownloadsPanel(self.window_)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.downloads)
        split.setSizes([480, 260])
        self.status = QLabel("")
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.pending_task = self.downloads.load_pending()

    # -- window hooks ------------------------------------------------------------------------------------
    def settings_changed(self) -> None:
        offline = self.wb.offline
        self.content.setEnabled(not offline)
        self.offline_banner.setVisible(offline)
        self.offline_banner.setText(
            "<b>Offline mode is on.</b> Searching and pulling need the Hugging Face Hub, so this page is "
            "disabled; models already in the library keep working. Turn offline mode off in Settings (and unset "
            "WORKBENCH_OFFLINE / HF_HUB_OFFLINE if you set them) to go online.")

    def focus_search(self) -> None:
        self.query.setFocus()
        self.query.selectAll()

    # -- search and files --------------------------------------------------------------------------------
    def search(self):
        query, sort = self.query.text().strip(), self.sort.currentText()
        self.status.setText(f"Searching for {query!r}…" if query else "Listing popular GGUF repositories…")
        task = self.window_.runner.submit("Hub search", self.wb.hub.search, query, sort=sort, progress=False)
        task.finished.connect(self._show_results)
        task.failed.connect(self._failed("Search"))
        return task

    def _show_results(self, found) -> None:
        self.results.setRowCount(len(found))
        for row, model in enumerate(found):
            name = model.repo + ("  (gated)" if model.gated else "")
            when = f"{model.last_modified:%Y-%m-%d}" if model.last_modified else "-"
            for col, text in enumerate((name, human_count(model.downloads), human_count(model.likes), when)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, model.repo)
                self.results.setItem(row, col, item)
        self.status.setText(f"{len(found)} repositories" if found else "Nothing found: try other words.")

    def _repo_selected(self) -> None:
        items = self.results.selectedItems()
        if items:
            self.open_repo(items[0].data(Qt.ItemDataRole.UserRole))

    def open_repo(self, repo: str):
        if self._estimate_task is not None:
            self._estimate_task.cancel()
        self.files.setRowCount(0)
        self.listing = None
        self.status.setText(f"Listing the files of {repo}…")
        task = self.window_.runner.submit(f"Files of {repo}", self.wb.hub.files, repo, progress=False)
        task.finished.connect(self._show_files)
        task.failed.connect(self._failed("Files"))
        return task

    def _show_files(self, listing: RepoListing) -> None:
        self.listing = listing
        self.files.setRowCount(len(listing.entries))
        for row, entry in enumerate(listing.entries):
            name = entry.name + (f"  ({len(entry.files)} parts)" if entry.split else "") + \
                ("  (projector: comes with the models)" if is_projector(entry) else "")
            for col, text in enumerate((name, entry.quant or "-", human_size(entry.size), "estimating…")):
                self.files.setItem(row, col, QTableWidgetItem(text))
        context = self.wb.settings.default_context
        self.fit_note.setText(f"Fit: memory at {context:,} tokens of context against free RAM")
        self.status.setText(f"{listing.repo}: {len(listing.entries)} GGUF files" if listing.entries else
                            f"{listing.repo} has no GGUF files")
        self._estimate_task = self.window_.runner.submit(
            f"Estimates for {listing.repo}", estimates, self.wb.hub, listing, context, stream=True)
        self._estimate_task.item.connect(self._show_badge)

    def _show_badge(self, item) -> None:
        row, verdict, explanation = item
        if row >= self.files.rowCount():
            return
        cell = QTableWidgetItem(verdict)
        cell.setToolTip(explanation)
        cell.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        cell.setBackground(QColor(BADGES[verdict][1 if is_dark() else 0]))
        self.files.setItem(row, 3, cell)

    def badge(self, row: int) -> str:
        item = self.files.item(row, 3)
        return item.text() if item else ""

    # -- pull --------------------------------------------------------------------------------------------
    def selected_entry(self) -> GGUFEntry | None:
        rows = self.files.selectionModel().selectedRows()
        if self.listing is None or not rows:
            return None
        return self.listing.entries[rows[0].row()]

    def pull_selected(self):
        entry = self.selected_entry()
        if entry is None or self.listing is None:
            return None
        return self.downloads.pull(file_ref(self.listing, entry), f"{self.listing.repo} / {entry.name}")

    def _failed(self, what: str):
        def report(message: str, details: str) -> None:
            self.status.setText(f"{what} failed: {message}")
            if details:
                self.window_.show_error(f"{what} failed", message, details)
        return report
