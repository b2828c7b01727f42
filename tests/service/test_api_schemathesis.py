"""Schemathesis against the live server (fake voice, API key set): every operation of /openapi.json, valid and
invalid inputs, a fixed seed and a bounded number of examples. Checks: no 5xx, responses match their documented
schema and content type, every status code returned is documented, input the schema calls invalid is refused.

Driven through Hypothesis directly (``operation.as_strategy()``): schemathesis' pytest plugin does not run
under this suite's pytest version.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.fakes import make_settings
from tests.service.guarded_helpers import Guarded, guarded_service
from ttsd.api.middleware import PUBLIC_PATHS
from ttsd.bootstrap import build_app

pytestmark = pytest.mark.slow  # subprocesses or real servers: run by `make test`, not `make test-fast`

API_KEY = "schemathesis-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def no_server_error(ctx: Any, response: Any, case: Case[Any]) -> bool | None:
    """No 5xx, except a 504 for a deadline the client chose itself (``timeout_s``): that is the documented
    answer to a request asking for less time than its synthesis takes, not a server fault."""
    body = case.body if isinstance(case.body, dict) else {}
    if response.status_code == 504 and body.get("timeout_s") is not None:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # invalid input (by the schema) must be refused: the server is as strict as its docs
]
OVERRIDES: dict[str, Any] = {"api_key": API_KEY, "max_text_chars": 200, "max_connections": 64}
SCHEMA = schemathesis.openapi.from_dict(build_app(make_settings(**OVERRIDES)).openapi())
OPERATIONS: list[APIOperation[Any, Any, Any, Any]] = [result.ok() for result in SCHEMA.get_all_operations()]  # type: ignore[union-attr]
# Invalid inputs exist only for operations that take some (a request body, here).
CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE) for op in OPERATIONS if len(op.body) > 0
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    with guarded_service(with_jobs=True, jobs_dir=tmp_path_factory.mktemp("jobs"), **OVERRIDES) as svc:
        yield svc


@pytest.mark.parametrize(("operation", "mode"), CASES, ids=[f"{op.label}-{mode.value}" for op, mode in CASES])
def test_operation_conforms(live: Guarded, operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode) -> None:
    headers = None if operation.path in PUBLIC_PATHS else AUTH

    @given(case=operation.as_strategy(generation_mode=mode))
    @seed(20261201)
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Any]) -> None:
        case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS)

    run()
