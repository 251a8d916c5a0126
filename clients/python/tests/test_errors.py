"""Bad input and missing configuration: a named error with a clear message, and nothing sent."""

from __future__ import annotations

import math

import pytest
from conftest import Deployment, received

from flotilla_client import (
    Client,
    ConfigurationError,
    InvalidIdError,
    InvalidJobError,
    Job,
    PayloadTooLargeError,
)

KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def stored(d: Deployment) -> list[str]:
    return [o["Key"] for o in d.boto("s3").list_objects_v2(Bucket=d.bucket).get("Contents", [])]


@pytest.mark.parametrize(
    ("jobs", "options", "error", "message"),
    [
        ([Job(1, id="a..b")], {}, InvalidIdError, "job id 'a..b' is invalid"),
        ([Job(1, id="has/slash")], {}, InvalidIdError, "job id 'has/slash' is invalid"),
        ([1], {"batch": "-leading-dash"}, InvalidIdError, "batch id '-leading-dash' is invalid"),
        ([Job(1, id="x"), Job(2, id="x")], {}, InvalidJobError, "job id 'x' appears twice"),
        ([1, {"s": {1, 2}}], {}, InvalidJobError, "job j000002: payload is not JSON"),
        ([math.nan], {}, InvalidJobError, "job j000001: payload is not JSON"),
    ],
)
def test_a_bad_job_fails_the_whole_submit_before_anything_is_sent(
    quiet: Deployment, jobs: list[object], options: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        quiet.client().submit_many("echo", [Job("fine", id="first"), *jobs], **options)  # type: ignore[arg-type]
    assert received(quiet) == []


def test_an_empty_job_id_is_refused_not_replaced(quiet: Deployment) -> None:
    with pytest.raises(InvalidIdError, match="job id '' is invalid"):
        quiet.client().submit("echo", {}, id="")
    assert received(quiet) == []


def test_a_bad_job_type_is_refused(quiet: Deployment) -> None:
    with pytest.raises(InvalidJobError, match="job type '9lives' is invalid"):
        quiet.client().submit("9lives", {})
    assert received(quiet) == []


def test_an_oversized_payload_is_refused_and_nothing_is_stored_or_sent(quiet: Deployment) -> None:
    c = quiet.client(claim_check_threshold_bytes=1024, max_payload_bytes=4096)
    jobs = [Job("x" * 2000, id="claim-checked"), Job("y" * 5000, id="too-big")]
    with pytest.raises(PayloadTooLargeError, match="job too-big: payload is 5002 bytes, over the 4096-byte limit") as e:
        c.submit_many("echo", jobs)
    assert (e.value.size, e.value.limit, e.value.job_id) == (5002, 4096, "too-big")
    assert received(quiet) == [] and stored(quiet) == []


def test_without_a_queue_or_bucket_it_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="no job queue given: pass queue_url=... or stack=..."):
        Client(env={**KEYS, "AWS_REGION": "eu-west-1"})
    with pytest.raises(ConfigurationError, match="no data bucket given"):
        Client(env={**KEYS, "AWS_REGION": "eu-west-1", "FLOTILLA_QUEUE_URL": "https://sqs.example/q"})


def test_a_malformed_endpoint_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="endpoint 'localhost:4566' is not an http"):
        Client(env={**KEYS, "AWS_ENDPOINT_URL": "localhost:4566", "FLOTILLA_QUEUE_URL": "q", "FLOTILLA_BUCKET": "b"})


def test_on_aws_without_a_region_it_asks_for_one() -> None:
    with pytest.raises(ConfigurationError, match="no AWS region"):
        Client(env={**KEYS, "FLOTILLA_QUEUE_URL": "q", "FLOTILLA_BUCKET": "b", "AWS_CONFIG_FILE": "/nonexistent"})


def test_service_endpoints_override_the_common_one() -> None:
    c = Client(
        env={
            **KEYS,
            "AWS_ENDPOINT_URL": "http://common.example:4566",
            "AWS_ENDPOINT_URL_S3": "http://s3.example:9000",
            "FLOTILLA_QUEUE_URL": "q",
            "FLOTILLA_BUCKET": "b",
        }
    )
    assert c.s3.meta.endpoint_url == "http://s3.example:9000"
    assert c.sqs.meta.endpoint_url == "http://common.example:4566"
    assert c.sqs.meta.region_name == "us-east-1"  # the default for a custom endpoint
    sqs_only = {"AWS_ENDPOINT_URL_SQS": "http://sqs.example:9324", "AWS_REGION": "eu-west-1"}
    c = Client(env={**KEYS, **sqs_only, "FLOTILLA_QUEUE_URL": "q", "FLOTILLA_BUCKET": "b"})
    assert c.sqs.meta.endpoint_url == "http://sqs.example:9324"
    assert c.s3.meta.region_name == "eu-west-1" and "amazonaws.com" in c.s3.meta.endpoint_url
