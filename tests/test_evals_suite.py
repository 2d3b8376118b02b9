"""Eval suites parsed from real YAML files: promptfoo's shapes, file:// resolution and every bad input the issue names
(YAML errors with line and column, unknown keys and assertion types, missing variables, paths outside the folder)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from workbench.errors import NotFound
from workbench.evals import SuiteError, load_suite, parse_suite, validate_suite
from workbench.evals.assertions import ASSERTION_TYPES
from workbench.evals.suite import render

DATA = Path(__file__).parent / "data" / "evals"

MINIMAL = """\
description: minimal
prompts: ["Say {{word}}"]
targets: [tiny]
tests:
  - vars: {word: hi}
    assert:
      - type: contains
        value: hi
"""


def _errors(text: str, base: Path) -> list:
    return [d for d in validate_suite(textwrap.dedent(text), base) if d.severity == "error"]


def test_a_minimal_suite_parses_into_cells(tmp_path):
    suite = parse_suite(MINIMAL, tmp_path)
    assert suite.description == "minimal" and suite.cell_count == 1
    assert suite.prompts[0].variables == ("word",)
    assert suite.targets[0].ref == "tiny" and not suite.targets[0].raw
    assert suite.tests[0].asserts[0].type == "contains"
    assert render(suite.prompts[0].text, suite.tests[0].vars) == "Say hi"


def test_the_realistic_promptfoo_configurations_parse(tmp_path):
    translate = load_suite(DATA / "translate" / "promptfooconfig.yaml")
    assert [p.label for p in translate.prompts] == ["Translate to {{language}}: {{input}}", "prompts.txt#1",
                                                    "prompts.txt#2"]  # a prompt file splits at `---` lines
    assert [(t.label, t.raw) for t in translate.targets] == [("tiny-chat", False),
                                                             ("ollama:completion:tiny:F32", True)]
    assert translate.targets[0].parameters == {"temperature": 0, "num_predict": 12}  # OpenAI names mapped
    assert [t.id for t in translate.tests] == ["hello", "morning", "thanks"]
    hello = translate.tests[0]
    assert [a.type for a in hello.asserts] == ["latency", "max-tokens", "not-contains"]  # defaultTest first
    assert [a.type for a in translate.tests[2].asserts][-1] == "levenshtein"
    assert [w.message for w in translate.warnings] == ["suite: 'outputPath' has no effect on a local run; ignored"]

    support = load_suite(DATA / "support" / "promptfooconfig.yaml")
    assert support.prompts[0].messages[0]["role"] == "system" and support.repeat == 2 and support.concurrency == 2
    assert support.cell_count == 3 * 2 and support.tests[2].threshold == 0.5
    assert support.tests[0].vars == {"product": "Workbench", "question": "Can I get a refund?"}

    extract = load_suite(DATA / "extract" / "promptfooconfig.yaml")
    assert len(extract.tests) == 3 and extract.seed == 7  # a list-valued var runs the test once per value
    assert extract.tests[1].vars["person"] == "31 years old"
    assert extract.parameters == {"temperature": 0}


def test_yaml_errors_carry_line_and_column(tmp_path):
    with pytest.raises(SuiteError) as caught:
        parse_suite("prompts: [a]\ntargets: x: y\n", tmp_path)
    [problem] = caught.value.diagnostics
    assert problem.message == "YAML error: mapping values are not allowed here"
    assert (problem.line, problem.column) == (2, 11)
    assert "line 2, column 11" in str(caught.value)


def test_unknown_keys_are_reported_at_their_line(tmp_path):
    text = MINIMAL + "scenarioz: []\n"
    text = text.replace("  - vars: {word: hi}\n", "  - vars: {word: hi}\n    expected: hi\n")
    errors = _errors(text, tmp_path)
    assert [(e.line, e.column) for e in errors] == [(6, 5), (10, 1)]
    assert "unknown key 'expected'" in errors[0].message and "known keys: assert, description" in errors[0].message
    assert "unknown key 'scenarioz'" in errors[1].message and errors[1].end_column == 10


def test_an_unknown_assertion_type_lists_the_supported_ones(tmp_path):
    [error] = _errors(MINIMAL.replace("type: contains", "type: containz"), tmp_path)
    assert error.line == 7 and "unknown assertion type 'containz'" in error.message
    assert all(kind in error.message for kind in ASSERTION_TYPES)


def test_javascript_assertions_are_refused_plainly(tmp_path):
    [error] = _errors(MINIMAL.replace("type: contains", "type: javascript"), tmp_path)
    assert "javascript assertions are not supported" in error.message and "--allow-code" in error.message


def test_a_missing_variable_names_the_test_and_the_variable(tmp_path):
    text = MINIMAL.replace("Say {{word}}", "Say {{word}} to {{person}}")
    [error] = _errors(text, tmp_path)
    assert error.line == 5
    assert "test 1 ({\"word\": \"hi\"})" in error.message and "{{person}}" in error.message
    assert "no variable 'person'" in error.message


def test_file_paths_resolve_beside_the_suite_and_never_outside(tmp_path):
    folder = tmp_path / "suite"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "p.txt").write_text("From a file: {{word}}")
    (tmp_path / "secret.txt").write_text("not yours")
    os.symlink(tmp_path / "secret.txt", folder / "link.txt")
    ok = MINIMAL.replace('prompts: ["Say {{word}}"]', "prompts: [file://sub/p.txt]")
    suite = parse_suite(ok, folder)
    assert suite.prompts[0].text == "From a file: {{word}}" and suite.prompts[0].label == "p.txt"
    for ref in ("file://../secret.txt", f"file://{tmp_path / 'secret.txt'}", "file://link.txt"):
        [error] = _errors(MINIMAL.replace('prompts: ["Say {{word}}"]', f"prompts: ['{ref}']"), folder)
        assert "outside the suite's folder" in error.message and error.line == 2, ref
    [missing] = _errors(MINIMAL.replace('prompts: ["Say {{word}}"]', "prompts: [file://nope.txt]"), folder)
    assert "no file matches" in missing.message or "does not exist" in missing.message


def test_test_files_in_csv_jsonl_and_yaml(tmp_path):
    (tmp_path / "cases.csv").write_text('word,__expected,__description\nhi,icontains: HI,first\nyo,yo,second\n')
    (tmp_path / "cases.jsonl").write_text('{"vars": {"word": "a"}, "assert": [{"type": "equals", "value": "a"}]}\n')
    (tmp_path / "cases.yaml").write_text("- vars: {word: b}\n  assert: [{type: is-json}]\n")
    text = MINIMAL.split("tests:")[0] + "tests: [file://cases.csv, file://cases.jsonl, file://cases.yaml]\n"
    suite = parse_suite(text, tmp_path)
    assert [t.description for t in suite.tests] == ["first", "second", '{"word": "a"}', '{"word": "b"}']
    assert [(a.type, a.value) for a in suite.tests[0].asserts] == [("icontains", "HI")]
    assert [(a.type, a.value) for a in suite.tests[1].asserts] == [("equals", "yo")]  # plain text: equals
    (tmp_path / "bad.jsonl").write_text('{"vars": {}}\nnot json\n')
    [error] = _errors(MINIMAL.split("tests:")[0] + "tests: file://bad.jsonl\n", tmp_path)
    assert "bad.jsonl line 2" in error.message and error.line == 4


def test_targets_map_promptfoo_provider_ids_onto_local_ones(tmp_path):
    text = MINIMAL.replace("targets: [tiny]", textwrap.dedent("""\
        targets:
          - ollama:chat:gemma-3-270m:Q4_K_M
          - ollama:completion:gemma-3-270m:Q4_K_M
          - openai:chat:helper@2
          - {id: helper:stable, config: {raw: true}}"""))
    suite = parse_suite(text, tmp_path)
    assert [(t.ref, t.raw) for t in suite.targets] == [("gemma-3-270m:Q4_K_M", False), ("gemma-3-270m:Q4_K_M", True),
                                                      ("helper@2", False), ("helper:stable", True)]
    [error] = _errors(MINIMAL.replace("targets: [tiny]", "targets: [anthropic:messages:claude]"), tmp_path)
    assert "remote provider" in error.message and error.line == 3
    [error] = _errors(MINIMAL.replace("targets: [tiny]", "targets: [{id: tiny, config: {temprature: 1}}]"), tmp_path)
    assert "unknown parameter 'temprature'" in error.message


def test_every_problem_is_reported_at_once_and_warnings_do_not_block(tmp_path):
    text = textwrap.dedent("""\
        tags: {team: x}
        prompts: ["{{a}}"]
        targets: [tiny, tiny]
        tests:
          - vars: {b: 1}
            assert: [{type: regex, value: "("}, {type: equals}]
        """)
    diagnostics = validate_suite(text, tmp_path)
    assert [(d.line, d.severity) for d in diagnostics] == [(1, "warning"), (3, "error"), (5, "error"), (6, "error"),
                                                           (6, "error")]
    assert "does not compile" in diagnostics[3].message and "needs a value" in diagnostics[4].message


def test_load_suite_names_a_missing_file(tmp_path):
    with pytest.raises(NotFound, match="eval init"):
        load_suite(tmp_path / "nope.yaml")


def test_the_suite_hash_covers_file_contents(tmp_path):
    (tmp_path / "p.txt").write_text("one {{word}}")
    text = MINIMAL.replace('prompts: ["Say {{word}}"]', "prompts: [file://p.txt]")
    first = parse_suite(text, tmp_path)
    (tmp_path / "p.txt").write_text("two {{word}}")
    second = parse_suite(text, tmp_path)
    assert first.sha256 != second.sha256
    assert type(first).from_json(first.to_json()).to_json() == first.to_json()


def test_adding_a_prompt_keeps_the_rest_of_the_file(tmp_path):
    from workbench.evals.suite_edit import add_prompt, new_suite_text

    text = MINIMAL.replace('prompts: ["Say {{word}}"]', 'prompts:\n  - "Say {{word}}"  # keep me\n  - Yell {{word}}')
    edited = add_prompt(text, 'Whisper "{{word}}": {x}')
    assert edited.startswith(text.split("targets:")[0].rstrip("\n") + '\n  - "Whisper \\"{{word}}\\": {x}"\n')
    assert "# keep me" in edited
    assert [p.label for p in parse_suite(edited, tmp_path).prompts][-1] == 'Whisper "{{word}}": {x}'
    flow = add_prompt(MINIMAL, "Shout {{word}}")
    assert 'prompts: ["Say {{word}}", "Shout {{word}}"]' in flow
    scalar = add_prompt(MINIMAL.replace('prompts: ["Say {{word}}"]', "prompts: Say {{word}}"), "B {{word}}")
    assert len(parse_suite(scalar, tmp_path).prompts) == 2
    fresh = new_suite_text("Hello", ["default"])
    assert parse_suite(fresh, tmp_path).cell_count == 1


def test_prompts_render_in_the_sandbox():
    from workbench.errors import TemplateSecurityError

    assert render("{{ word | upper }} {{ messages[0] }}", {"word": "hi", "messages": ["m"]}) == "HI m"
    with pytest.raises(TemplateSecurityError):
        render("{{ word.__class__.__mro__ }}", {"word": "hi"})
