"""functions/lambda_entry.py and shared/observability.py without a full request."""

from __future__ import annotations

import json
import logging
import os

import boto3

from functions import lambda_entry
from shared import observability


def test_secrets_reach_the_environment_before_settings(aws, monkeypatch):
    client = boto3.client("secretsmanager", endpoint_url=aws.endpoint, region_name="us-east-1")
    signing = client.create_secret(Name=f"{aws.prefix}signing",
                                   SecretString=json.dumps({"BOOTHAI_SIGNING_KEY": "k" * 48}))
    keys = client.create_secret(Name=f"{aws.prefix}providers", SecretString=json.dumps(
        {"GEMINI_API_KEY": "gem-secret-value", "TURBOTEXT_API_KEY": "", "PATH": "/evil"}))
    monkeypatch.delenv("BOOTHAI_SIGNING_KEY")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    path = os.environ["PATH"]
    # setenv first so monkeypatch removes what load_secrets sets when the test ends.
    monkeypatch.setenv("BOOTHAI_SIGNING_KEY", "")
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.delenv("BOOTHAI_SIGNING_KEY")
    monkeypatch.delenv("GEMINI_API_KEY")
    names = lambda_entry.load_secrets(f"{signing['ARN']},{keys['ARN']}")
    assert sorted(names) == ["BOOTHAI_SIGNING_KEY", "GEMINI_API_KEY"]
    assert os.environ["PATH"] == path  # only our names and the providers' are accepted

    from shared.config import Settings

    settings = Settings()
    assert settings.signing_key.get_secret_value() == "k" * 48
    assert settings.gemini_api_key.get_secret_value() == "gem-secret-value"
    assert observability.redact("key=gem-secret-value") == "key=***"


def test_arrival_time_counts_from_the_function_url():
    event = {"requestContext": {"timeEpoch": 1_000_000}}
    # Arrived 2.5 s ago (a cold start): the deadline clock starts 2.5 s back.
    assert lambda_entry.arrival_monotonic(event, now=1002.5, mono=50.0) == 47.5
    assert lambda_entry.arrival_monotonic(event, now=900.0, mono=50.0) is None  # skew
    assert lambda_entry.arrival_monotonic({}, now=1002.5, mono=50.0) is None


def test_logs_never_carry_tokens_or_query_strings():
    assert observability.safe_path("/u/AbCdEf123") == "/u/***"
    assert observability.redact("POST https://x.on.aws/u/tok123?a=1") == \
        "POST https://x.on.aws/u/***?***"
    assert observability.redact("/hooks/turbotext/j1?t=sekret") == "/hooks/turbotext/j1?***"


def test_plain_logging_outside_lambda(caplog):
    observability.use_plain_logging()
    with caplog.at_level(logging.INFO, logger="boothai.metrics"):
        observability.record_job(job_id="j1", tenant="acme", provider="local", status="done",
                                 reason="", total_ms=120)
    assert "job j1 tenant=acme provider=local status=done" in caplog.text
    assert not observability.powertools_enabled()


def test_make_handler_is_lazy():
    """`boothai serve` imports every functions module: creating a handler must not switch
    logging to Powertools nor touch Secrets Manager."""
    observability.use_plain_logging()
    lambda_entry.make_handler(object(), "ingest", serves=())  # type: ignore[arg-type]
    assert not observability.powertools_enabled()
