"""A stack name gives the queue and bucket from CloudFormation outputs (moto_server has CloudFormation)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator

import boto3
import pytest

from flotilla_client import Client, StackNotFoundError
from flotilla_client.config import STACK_OUTPUTS

KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
KEYS_ARGS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    if not shutil.which("moto_server"):
        pytest.skip("moto_server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start within 30 s") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_stack_name_gives_the_queue_and_bucket_from_its_outputs(moto: str) -> None:
    name = f"flotilla-{uuid.uuid4().hex[:8]}"
    # The outputs are what the client reads; the one resource is there because a stack needs one.
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            STACK_OUTPUTS["queue_url"]: {"Value": f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name}-jobs"},
            STACK_OUTPUTS["dlq_url"]: {"Value": f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name}-dlq"},
            STACK_OUTPUTS["bucket"]: {"Value": f"{name}-data"},
        },
    }
    cfn = boto3.client("cloudformation", endpoint_url=moto, region_name="eu-west-1", **KEYS_ARGS)
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))

    c = Client(stack=name, env={**KEYS, "AWS_ENDPOINT_URL": moto, "AWS_REGION": "eu-west-1"})
    queue_url = f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name}-jobs"
    assert (c.queue_url, c.bucket) == (queue_url, f"{name}-data")
    # FLOTILLA_STACK works the same way, and explicit names win over the stack's.
    env = {**KEYS, "AWS_ENDPOINT_URL": moto, "AWS_REGION": "eu-west-1"}
    c = Client(env={**env, "FLOTILLA_STACK": name, "FLOTILLA_BUCKET": "mine"})
    assert (c.queue_url, c.bucket) == (queue_url, "mine")


def test_a_missing_stack_is_a_clear_error(moto: str) -> None:
    with pytest.raises(StackNotFoundError, match="stack 'nope' does not exist in this account and region"):
        Client(stack="nope", env={**KEYS, "AWS_ENDPOINT_URL": moto, "AWS_REGION": "eu-west-1"})
