"""Files a suite points at with `file://`: resolved inside the suite's folder, then read as prompts or test cases.

A path is relative to the suite's folder and must stay inside it (after symlinks): a suite shared with an
analyst must not read their ~/.ssh. Test files are CSV (promptfoo's columns: each one a variable, `__expected…`
an assertion, `__description`, `__threshold`), JSONL (one test case per line), YAML or JSON (a list of them).
Prompt files are text (promptfoo splits them at lines of `---`), or JSON / YAML holding a chat message list.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
from pathlib import Path

import yaml

FILE_PREFIX = "file://"
IMAGE_VAR = "image"  # a test's `image: file://cat.png` (or a list: one case per image) goes with the prompt
TEST_FILE_TYPES = (".csv", ".jsonl", ".json", ".yaml", ".yml")
MAX_FILE_BYTES = 64 * 1024 * 1024


class FileProblem(ValueError):
    """A file:// reference that cannot be used; the parser turns it into a Diagnostic at the reference."""


def is_file_ref(value) -> bool:
    return isinstance(value, str) and value.startswith(FILE_PREFIX)


def resolve(ref: str, base_dir: Path) -> list[Path]:
    """`file://relative/path` (a glob pattern allowed) → existing files inside base_dir, sorted."""
    relative = ref[len(FILE_PREFIX):].strip()
    if not relative:
        raise FileProblem(f"{ref!r} names no file")
    base = base_dir.resolve()
    pattern = Path(relative)
    candidate = pattern if pattern.is_absolute() else base / pattern
    matches = sorted(Path(p) for p in glob.glob(str(candidate))) if glob.has_magic(relative) else [candidate]
    if not matches:
        raise FileProblem(f"{ref}: no file matches it in {base}")
    paths = []
    for path in matches:
        real = path.resolve()
        if not real.is_relative_to(base):
            raise FileProblem(f"{ref} is outside the suite's folder {base}: suites may only read files beside them")
        if not real.is_file():
            raise FileProblem(f"{ref}: {real} does not exist (paths are relative to the suite's folder {base})")
        paths.append(real)
    return paths


def read_text(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise FileProblem(f"{path.name} is over {MAX_FILE_BYTES // 2**20} MiB")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_prompts(path: Path) -> list[tuple[str, str | list]]:
    """(label, text or message list) for each prompt in a prompt file."""
    text = read_text(path)
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        data = _structured(path, text)
        if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
            raise FileProblem(f"{path.name} must hold a list of chat messages ({{role: …, content: …}})")
        return [(path.name, data)]
    parts = [part.strip("\n") for part in text.split("\n---\n")]
    parts = [part for part in parts if part.strip()]
    if not parts:
        raise FileProblem(f"{path.name} is empty")
    if len(parts) == 1:
        return [(path.name, parts[0])]
    return [(f"{path.name}#{i + 1}", part) for i, part in enumerate(parts)]


def load_tests(path: Path) -> list[dict]:
    """Test-case dicts (promptfoo's shape: vars, assert, description, threshold) from a test file."""
    suffix = path.suffix.lower()
    if suffix not in TEST_FILE_TYPES:
        raise FileProblem(f"{path.name}: test files are {', '.join(TEST_FILE_TYPES)}")
    text = read_text(path)
    if suffix == ".csv":
        return _csv_tests(path, text)
    if suffix == ".jsonl":
        return _jsonl_tests(path, text)
    data = _structured(path, text)
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise FileProblem(f"{path.name} must hold a list of test cases")
    return data


def _structured(path: Path, text: str):
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise FileProblem(f"{path.name} line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise FileProblem(f"{path.name}{where}: {getattr(exc, 'problem', None) or exc}") from None


def _jsonl_tests(path: Path, text: str) -> list[dict]:
    tests = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileProblem(f"{path.name} line {number}: {exc.msg}") from None
        if not isinstance(case, dict):
            raise FileProblem(f"{path.name} line {number}: each line must be a JSON object (a test case)")
        tests.append(case)
    return tests


def _csv_tests(path: Path, text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise FileProblem(f"{path.name} has no header row")
    tests = []
    for row in reader:
        if None in row:
            raise FileProblem(f"{path.name} line {reader.line_num}: more cells than the header has columns")
        case: dict = {"vars": {}, "assert": []}
        for column, value in row.items():
            column = column.strip()
            value = value or ""
            if column.startswith("__expected"):
                if value.strip():
                    case["assert"].append(expected_assertion(value.strip()))
            elif column == "__description":
                case["description"] = value
            elif column == "__threshold":
                case["threshold"] = _number(path, reader.line_num, column, value)
            elif column.startswith("__"):
                continue  # promptfoo's __metadata / __prefix columns have no meaning here
            else:
                case["vars"][column] = value
        tests.append(case)
    return tests


def _number(path: Path, line: int, column: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise FileProblem(f"{path.name} line {line}: {column} must be a number, got {value!r}") from None


def expected_assertion(text: str) -> dict:
    """promptfoo's `__expected` cell: `type: value` (`grade:` is llm-rubric, `fn:`/`python:` code), else equals."""
    from .assertions import ASSERTION_TYPES

    head, sep, rest = text.partition(":")
    kind = head.strip()
    if sep and kind == "grade":
        return {"type": "llm-rubric", "value": rest.strip()}
    if sep and kind in ("fn", "javascript", "eval"):
        return {"type": "javascript", "value": rest.strip()}
    if kind in ASSERTION_TYPES and (sep or kind in ("is-json", "contains-json")):
        return {"type": kind, "value": rest.strip()} if rest.strip() else {"type": kind}
    return {"type": "equals", "value": text}


def image_refs(value) -> list[str]:
    """The file:// references an `image` variable holds (one, or each of a list)."""
    return list(value) if isinstance(value, list) else [value]


def image_digests(value, base_dir: Path) -> tuple[list[str], dict[str, str]]:
    """(problems, {reference: sha256}) of an `image` variable: a reference that is not file:// or names no file
    inside the suite's folder is a problem; the digests go into the suite's hash, so a changed picture is another
    suite, and the runner refuses a file that changed since. Whether each file is an image is checked when its
    cell runs (by workbench/chat/media.py's rules)."""
    problems, digests = [], {}
    for ref in image_refs(value):
        if not is_file_ref(ref):
            problems.append(f"an image is given as file://PATH beside the suite, not {ref!r}")
            continue
        try:
            paths = resolve(ref, base_dir)
        except FileProblem as exc:
            problems.append(str(exc))
            continue
        if len(paths) > 1:
            problems.append(f"{ref} matches {len(paths)} files: an image variable names one file (a list of them "
                            "makes one case per image)")
            continue
        if paths[0].stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{paths[0].name} is over {MAX_FILE_BYTES // 2**20} MiB")
            continue
        digests[ref] = hashlib.sha256(paths[0].read_bytes()).hexdigest()
    return problems, digests
