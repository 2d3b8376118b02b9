""""Add this prompt to a suite" (the Compare page): append a test case to a suite file, leaving the rest as written.

The new case is inserted as text after the last item of the suite's `tests:` list (or of the YAML, JSONL, CSV or
JSON file that `tests: file://…` names), so comments, key order and quoting elsewhere stay byte for byte.
PyYAML's node positions say where the list ends; a round-trip YAML library would re-emit the whole file, which
is why this is done by hand. The result is parsed again before it is written (atomically), so a suite file is
never left broken.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
from pathlib import Path

import yaml
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from workbench.errors import InvalidParameter, WorkbenchError
from workbench.evals import load_suite
from workbench.evals.suite_files import is_file_ref, resolve
from workbench.files import atomic_write_bytes, atomic_write_text

from .layout import hrow


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks: a prompt stays readable in the suite."""


_BlockDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def new_test_case(variable: str, prompt: str, description: str, expect: str = "") -> dict:
    case: dict = {"description": description, "vars": {variable: prompt}}
    if expect:
        case["assert"] = [{"type": "icontains", "value": expect}]
    return case


def store_image_beside(suite_path: Path, media) -> str:
    """Copy an image next to the suite (named by its content, so adding it twice writes one file) and return the
    `file://` reference a test case's `image` variable holds (evals/suite_files.py)."""
    name = f"image-{media.sha256[:12]}{mimetypes.guess_extension(media.mime) or '.img'}"
    target = suite_path.parent / name
    if not target.is_file():
        atomic_write_bytes(target, media.data)
    return f"file://{name}"


def append_test_case(suite_path: Path, case: dict) -> Path:
    """Append `case` to the suite's tests (in the suite file or the tests file it names); returns the file written."""
    text = Path(suite_path).read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise InvalidParameter(f"{suite_path} is not a suite (a YAML mapping)")
    tests = next((value for key, value in root.value if key.value == "tests"), None)
    if isinstance(tests, yaml.ScalarNode) and is_file_ref(tests.value):
        files = resolve(tests.value, Path(suite_path).resolve().parent)
        if len(files) != 1:
            raise InvalidParameter(f"{tests.value} names {len(files)} files; add the case to one by hand")
        return _append_to_tests_file(files[0], case)
    new_text = _insert_into(text, tests, case)
    _check_one_more(text, new_text, suite_path)
    atomic_write_text(suite_path, new_text)
    return Path(suite_path)


def _insert_into(text: str, tests: yaml.Node | None, case: dict) -> str:
    """The YAML text with `case` added to the `tests` node (absent, empty, a flow or a block list)."""
    if tests is None:
        return text.rstrip("\n") + "\n\ntests:\n" + _block_item(case, 2)
    if isinstance(tests, yaml.ScalarNode) and tests.value in ("", "~", "null"):
        end = tests.end_mark.index
        return text[:end] + "\n" + _block_item(case, 2).rstrip("\n") + text[end:].lstrip(" ")
    if not isinstance(tests, yaml.SequenceNode):
        raise InvalidParameter("the suite's tests are not a list; add the case by hand")
    if tests.flow_style or not tests.value:
        close = text.rindex("]", tests.start_mark.index, tests.end_mark.index)
        separator = ", " if tests.value else ""
        return text[:close] + separator + json.dumps(case, ensure_ascii=False) + text[close:]
    dash_column = tests.start_mark.column
    content_column = tests.value[0].start_mark.column
    line_end = text.find("\n", _last_leaf(tests.value[-1]).end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    item = _block_item(case, dash_column, content_column - dash_column)
    return text[:line_end] + "\n" + item.rstrip("\n") + text[line_end:]


def _last_leaf(node: yaml.Node) -> yaml.Node:
    """The last scalar or flow collection inside a node: block collections' end marks run on to the next key."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node


def _block_item(case: dict, dash_column: int, gap: int = 2) -> str:
    body = yaml.dump(case, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=1000)
    lines = body.rstrip("\n").split("\n")
    first = " " * dash_column + "-" + " " * (gap - 1) + lines[0]
    rest = [(" " * (dash_column + gap) + line) if line else line for line in lines[1:]]
    return "\n".join([first, *rest]) + "\n"


def _check_one_more(before: str, after: str, where: Path) -> None:
    def count(text: str) -> int:
        tests = (yaml.safe_load(text) or {}).get("tests") or []
        return len(tests) if isinstance(tests, list) else -1

    try:
        ok = count(after) == count(before) + 1
    except yaml.YAMLError:
        ok = False
    if not ok:
        raise InvalidParameter(f"could not add the case to {where} without breaking it; add it by hand")


def _append_to_tests_file(path: Path, case: dict) -> Path:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        new_text = text + ("" if not text or text.endswith("\n") else "\n") + json.dumps(case, ensure_ascii=False)
        new_text += "\n"
    elif suffix == ".json":
        cases = json.loads(text)
        new_text = json.dumps([*cases, case], ensure_ascii=False, indent=2) + "\n"
    elif suffix == ".csv":
        new_text = _csv_with_row(text, case, path)
    else:  # a YAML list of cases
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None and not isinstance(root, yaml.SequenceNode):
            raise InvalidParameter(f"{path} does not hold a list of test cases")
        new_text = _insert_into(text, root, case) if root is not None else _block_item(case, 0)
    atomic_write_text(path, new_text)
    return path


def _csv_with_row(text: str, case: dict, path: Path) -> str:
    header = next(csv.reader(io.StringIO(text)), [])
    row = {**case["vars"], "__description": case["description"]}
    if case.get("assert"):
        row["__expected"] = f"icontains:{case['assert'][0]['value']}"
    missing = [name for name in row if name not in header and not name.startswith("__")]
    if missing:
        raise InvalidParameter(f"{path.name} has no column {missing[0]!r}; add the case by hand")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writerow(row)
    return text + ("" if not text or text.endswith("\n") else "\n") + out.getvalue()


class AddToSuiteDialog(QDialog):
    """Pick a suite file, the variable the prompt fills, a description and an optional expectation."""

    def __init__(self, prompt: str, start_dir: Path, parent=None, images=()):
        super().__init__(parent)
        self.setWindowTitle("Add this prompt to a suite")
        self.prompt, self.start_dir = prompt, start_dir
        self.images = list(images)  # Compare's attached image: copied beside the suite, the case's `image` var
        self.path = QLineEdit(placeholderText="suite.yaml")
        self.path.editingFinished.connect(self.suite_chosen)
        browse = QPushButton("Browse…", clicked=self.browse)
        self.variable = QComboBox(editable=True)
        self.description = QLineEdit(" ".join(prompt.split())[:60])
        self.expect = QLineEdit(placeholderText="optional: the answer must contain this (icontains)")
        self.message = QLabel(wordWrap=True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.add)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Suite", hrow((self.path, 1), browse))
        form.addRow("Variable", self.variable)
        form.addRow("Description", self.description)
        form.addRow("Expect", self.expect)
        form.addRow(self.message)
        form.addRow(buttons)
        self.written: Path | None = None

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Suite", str(self.start_dir), "Suites (*.yaml *.yml)")
        if path:
            self.path.setText(path)
            self.suite_chosen()

    def suite_chosen(self) -> None:
        """Offer the variables the suite's prompts read ({{question}}…), the first one selected."""
        self.variable.clear()
        try:
            suite = load_suite(Path(self.path.text().strip()))
        except (WorkbenchError, OSError) as exc:
            self.message.setText(str(exc))
            return
        names = sorted({v for p in suite.prompts for v in p.variables})
        self.variable.addItems(names or ["prompt"])
        self.message.setText(f"{len(suite.tests)} test case(s) now; prompts read: {', '.join(names) or 'nothing'}")

    def add(self) -> Path | None:
        variable = self.variable.currentText().strip()
        if not self.path.text().strip() or not variable:
            self.message.setText("Pick a suite file and the variable the prompt fills.")
            return None
        if len(self.images) > 1:
            self.message.setText("A test case carries one image (an `image` list makes one case per image): "
                                 "keep one attached on the Compare page.")
            return None
        case = new_test_case(variable, self.prompt, self.description.text().strip() or self.prompt[:60],
                         self.expect.text().strip())
        try:
            if self.images:
                case["vars"]["image"] = store_image_beside(Path(self.path.text().strip()), self.images[0])
            self.written = append_test_case(Path(self.path.text().strip()), case)
        except (WorkbenchError, OSError, ValueError, yaml.YAMLError) as exc:
            self.message.setText(f"Not added: {exc}")
            return None
        self.accept()
        return self.written
