"""The endpoint fuzzed from its own OpenAPI schema (schemathesis, loopback only, bounded): valid and invalid
requests to every operation, with real model names mixed in so requests get past the lookup; never a 5xx,
invalid data always refused with a 4xx, and every response matching what the schema declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error, response_schema_conformance

import tests.openapi_support  # noqa: F401  (reads NDJSON streams for the conformance check)
from tests.serve_support import serving, tiny_workbench

# a crashed background thread (the engine's keep-alive reaper, say) fails the test, not just warns
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
NAMES = ["tiny:F32", "terse", "tooly", None]  # None: keep the generated (unknown) name
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}  # per operation: ~30 s in all here


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("fuzz"), tiny_model_path)
    # small answers keep each generated request short; the queue bounds what a burst can pile up
    with serving(wb, parallel=2, max_tokens_cap=8) as srv:
        yield srv
    wb.close()


def _operations(server):
    schema = schemathesis.openapi.from_dict(server.app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(server, operation, mode: GenerationMode) -> list[str]:
    failures: list[str] = []
    checks = [not_a_server_error, response_schema_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)

    @settings(max_examples=EXAMPLES[mode], deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate], database=None, derandomize=True)
    @given(case=operation.as_strategy(generation_mode=mode), name=st.sampled_from(NAMES))
    def run(case, name):
        if name and isinstance(case.body, dict):
            for key in ("model", "name", "source"):
                if key in case.body:
                    case.body[key] = name
        response = case.call(base_url=server.url, timeout=60)
        try:
            case.validate_response(response, checks=checks)
        except schemathesis.errors.FailureGroup as group:  # several failures of one response
            failures.extend(f"{operation.label} {response.status_code}: {f.title}" for f in group.exceptions)
        except AssertionError as exc:  # one failure: schemathesis' Failure is an AssertionError
            failures.append(f"{operation.label} {response.status_code}: {str(exc).splitlines()[0]}")

    try:
        run()
    except schemathesis.errors.SchemathesisError:  # nothing to generate (e.g. no invalid GET /health exists)
        pass
    except Exception as exc:
        if type(exc).__name__ != "Unsatisfiable":
            raise
    return failures


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzing_every_operation_finds_no_server_error(server, mode):
    failures = [f for operation in _operations(server) for f in _fuzz(server, operation, mode)]
    assert failures == []
    assert server.state.key_metrics().in_flight == 0
