"""Schemathesis against the service's own OpenAPI schema: no 5xx, no response that
breaks its documented schema, status or content type (bounded examples per operation)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.models import ModelRepository, default_repository_path
from service.rest.app import create_app
from service.settings import Settings

app = create_app(Settings(max_rows=500), repository=ModelRepository.load(default_repository_path()))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case[Any]) -> None:
    # A schema-valid body can still be refused on meaning (an unknown unit text, an
    # output name the model lacks): that is a 422 by design, so "positive data
    # acceptance" does not apply; every other default check does.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
