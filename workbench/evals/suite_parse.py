"""`SuiteParser`: the YAML tree of a suite → a `Suite`, collecting a Diagnostic for every problem on the way.

Each section is read by one method; a problem is recorded at the span of the key or value that caused it and
parsing goes on, so an editor underlines all of them at once. Known promptfoo keys that have no meaning for a
local run are warnings ("ignored"); keys nobody knows are errors, with the known ones listed.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

from . import suite_files as files
from . import yamlmarks
from .assertions import check_assertion_type
from .suite_sections import SectionParser
from .suite_types import AssertionSpec, PromptSpec, Suite, TestCase
from .yamlmarks import Mapping, Sequence, Span

TOP_KEYS = {"description", "prompts", "providers", "targets", "tests", "defaultTest", "options", "evaluateOptions"}
IGNORED_TOP_KEYS = {"tags", "outputPath", "sharing", "env", "metadata", "writeLatestResults", "nunjucksFilters",
                    "derivedMetrics", "extensions", "commandLineOptions", "$schema"}
TEST_KEYS = {"description", "vars", "assert", "threshold", "options", "metadata"}
ASSERT_KEYS = {"type", "value", "threshold", "weight", "metric", "provider", "rubricPrompt"}
OPTION_KEYS = {"repeat", "concurrency", "seed", "judge", "parameters"}
EVALUATE_KEYS = {"repeat": "repeat", "maxConcurrency": "concurrency"}
TEST_OPTION_KEYS = {"provider"}  # promptfoo's test options: the llm-rubric judge


class SuiteParser(SectionParser):
    def __init__(self, base_dir):
        super().__init__(base_dir)
        self.images: dict[str, str] = {}  # each `image` var's file:// reference → the sha256 of its bytes

    def parse(self, text: str) -> Suite | None:
        try:
            root = yamlmarks.load(text)
        except yamlmarks.YAMLError as exc:
            self.report(yamlmarks.error_span(exc), yamlmarks.error_message(exc))
            return None
        if not isinstance(root, Mapping):
            self.report(Span(1, 1, 2), "a suite is a YAML mapping with prompts, targets (or providers) and tests")
            return None
        self._keys(root, TOP_KEYS, IGNORED_TOP_KEYS, "suite")
        options = self._options(root)
        prompts = self._prompts(root)
        targets = self._targets(root)
        default = self._mapping(root, "defaultTest")
        tests = self._tests(root, default, prompts)
        if not prompts or not targets or not tests:
            return None
        description = root.get("description")
        return Suite(description=str(description) if description is not None else "", prompts=tuple(prompts),
                     targets=tuple(targets), tests=tuple(tests), images=self.images, **options)

    # -- sections -------------------------------------------------------------------------------------
    def _options(self, root: Mapping) -> dict[str, Any]:
        out: dict[str, Any] = {"repeat": 1, "concurrency": None, "seed": 0, "judge": None, "parameters": {}}
        evaluate = self._mapping(root, "evaluateOptions")
        if evaluate is not None:
            for key in evaluate:
                if key in EVALUATE_KEYS:
                    name = EVALUATE_KEYS[key]
                    out[name] = self._number(evaluate, key, integer=True, low=1) or out[name]
                else:
                    self.report(evaluate.key_span(key), f"evaluateOptions: {key!r} has no effect here; ignored",
                                "warning")
        options = self._mapping(root, "options")
        if options is None:
            return out
        self._keys(options, OPTION_KEYS, set(), "options")
        for key in ("repeat", "concurrency"):
            out[key] = self._number(options, key, integer=True, low=1) or out[key]
        if self._number(options, "concurrency", integer=True) and options["concurrency"] > 64:
            self.report(options.value_span("concurrency"), "concurrency must be at most 64")
        seed = self._number(options, "seed", integer=True, low=0)
        out["seed"] = seed if seed is not None else 0
        if options.get("judge") is not None:
            out["judge"] = str(options["judge"])
        parameters = options.get("parameters")
        if parameters is not None:
            if not isinstance(parameters, Mapping):
                self.report(options.value_span("parameters"), "options.parameters must be a mapping")
            else:
                out["parameters"].update(self._config(options, "parameters", parameters))
        return out

    def _tests(self, root: Mapping, default: Mapping | None, prompts: list[PromptSpec]) -> list[TestCase]:
        value = root.get("tests")
        if value is None:
            self.report(root.span, "the suite has no tests (`tests:` with a list, or a file:// test file)")
            return []
        raw = self._test_items(root, value)
        if default is not None:
            self._keys(default, TEST_KEYS, set(), "defaultTest")
        tests: list[TestCase] = []
        for item, span in raw:
            tests += self._test(item, span, default, len(tests))
        ids: dict[str, int] = {}
        for position, test in enumerate(tests):
            ids[test.id] = ids.get(test.id, 0) + 1
            if ids[test.id] > 1:
                tests[position] = _with_id(test, f"{test.id} ({ids[test.id]})")
        for test in tests:
            self._check_variables(test, prompts)
        return tests

    def _test_items(self, root: Mapping, value: Any) -> list[tuple[Any, Span]]:
        items = value if isinstance(value, Sequence) else Sequence([value])
        if not isinstance(value, Sequence):
            items.item_spans = [root.value_span("tests")]
        out: list[tuple[Any, Span]] = []
        for index, item in enumerate(items):
            span = items.item_span(index)
            if files.is_file_ref(item):
                try:
                    out += [(case, span) for path in files.resolve(item, self.base_dir)
                            for case in files.load_tests(path)]
                except files.FileProblem as exc:
                    self.report(span, str(exc))
            else:
                out.append((item, span))
        return out

    def _test(self, item: Any, span: Span, default: Mapping | None, start: int) -> list[TestCase]:
        if not isinstance(item, dict):
            self.report(span, "a test case is a mapping with vars and assert")
            return []
        if isinstance(item, Mapping):
            self._keys(item, TEST_KEYS, set(), "test")
            span = item.span
        else:  # a test case from a file: problems are shown at the file's reference
            for key in item:
                if key not in TEST_KEYS:
                    self.report(span, f"test: unknown key {key!r}; known keys: {', '.join(sorted(TEST_KEYS))}")
        variables = {**_vars(default), **_vars(item)}
        variables = self._file_vars(variables, span)
        asserts = [*self._asserts(default, span, "defaultTest"), *self._asserts(item, span, "test")]
        judge = self._test_options(default, item, span).get("provider")
        if judge:  # promptfoo's test-level grader: the judge of this test's llm-rubric assertions
            asserts = [replace(a, provider=a.provider or str(judge)) if a.type == "llm-rubric" else a for a in asserts]
        threshold = item.get("threshold", (default or {}).get("threshold"))
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            self.report(span, f"threshold must be a number, got {threshold!r}")
            threshold = None
        cases = []
        combos = _expand(variables)
        for combo in combos:
            description = str(item.get("description") or "")
            test_id = description or _vars_id(combo)
            if description and len(combos) > 1:
                test_id = f"{description} [{_vars_id(combo)}]"
            cases.append(TestCase(start + len(cases), test_id, description or test_id, combo, tuple(asserts),
                                  threshold, span.line))
        return cases

    def _test_options(self, default: dict | None, item: dict, span: Span) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for node in (default or {}, item):
            value = node.get("options")
            if value is None:
                continue
            if not isinstance(value, dict):
                self.report(span, "a test's options must be a mapping")
                continue
            for key in value:
                if key not in TEST_OPTION_KEYS:
                    where = value.key_span(key) if isinstance(value, Mapping) else span
                    self.report(where, f"test options: {key!r} is not supported; known: "
                                       f"{', '.join(sorted(TEST_OPTION_KEYS))}")
            options.update(value)
        return options

    def _file_vars(self, variables: dict[str, Any], span: Span) -> dict[str, Any]:
        out = {}
        for name, value in variables.items():
            if name == files.IMAGE_VAR:  # sent as an image, not read as text: hashed now, read when it runs
                problems, digests = files.image_digests(value, self.base_dir)
                self.images.update(digests)
                for problem in problems:
                    self.report(span, f"variable {name!r}: {problem}")
            elif files.is_file_ref(value):
                try:
                    value = "\n".join(files.read_text(p) for p in files.resolve(value, self.base_dir))
                except files.FileProblem as exc:
                    self.report(span, f"variable {name!r}: {exc}")
            out[name] = value
        return out

    def _asserts(self, node: dict | None, span: Span, where: str) -> list[AssertionSpec]:
        value = (node or {}).get("assert")
        if value is None:
            return []
        if not isinstance(value, list):
            self.report(span, f"{where}: assert must be a list")
            return []
        specs = []
        for index, item in enumerate(value):
            item_span = value.item_span(index) if isinstance(value, Sequence) else span
            spec = self._assertion(item, item_span)
            if spec is not None:
                specs.append(spec)
        return specs

    def _assertion(self, item: Any, span: Span) -> AssertionSpec | None:
        if not isinstance(item, dict) or "type" not in item:
            self.report(span, "an assertion is a mapping with a type (and usually a value)")
            return None
        if isinstance(item, Mapping):
            self._keys(item, ASSERT_KEYS, set(), "assertion")
        problem = check_assertion_type(str(item["type"]), item.get("value"))
        if problem:
            self.report(span, problem)
            return None
        value = item.get("value")
        if files.is_file_ref(value):
            try:
                value = "\n".join(files.read_text(p) for p in files.resolve(value, self.base_dir))
            except files.FileProblem as exc:
                self.report(span, str(exc))
        threshold, weight = item.get("threshold"), item.get("weight", 1.0)
        for name, number in (("threshold", threshold), ("weight", weight)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
                self.report(span, f"{name} must be a number, got {number!r}")
                return None
        return AssertionSpec(str(item["type"]), value, None if threshold is None else float(threshold),
                             float(weight), item.get("metric"), item.get("provider"), item.get("rubricPrompt"),
                             span.line)

    def _check_variables(self, test: TestCase, prompts: list[PromptSpec]) -> None:
        for prompt in prompts:
            missing = [name for name in prompt.variables if name not in test.vars]
            for name in missing:
                self.report(yamlmarks.Span(test.line, 1, 2),
                            f"test {test.index + 1} ({test.description}): the prompt {prompt.label!r} uses "
                            f"{{{{{name}}}}} but the test sets no variable {name!r}")


def _vars(node: dict | None) -> dict[str, Any]:
    value = (node or {}).get("vars")
    return dict(value) if isinstance(value, dict) else {}


def _expand(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """promptfoo's rule: a variable given a list runs the test once per value (all combinations)."""
    lists = {k: v for k, v in variables.items() if isinstance(v, list)}
    if not lists:
        return [variables]
    names = list(lists)
    return [{**variables, **dict(zip(names, combo, strict=True))} for combo in itertools.product(*lists.values())]


def _vars_id(variables: dict[str, Any]) -> str:
    return json.dumps(variables, sort_keys=True, ensure_ascii=False, default=str)[:200]


def _with_id(test: TestCase, test_id: str) -> TestCase:
    return replace(test, id=test_id)


