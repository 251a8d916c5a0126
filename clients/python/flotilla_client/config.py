"""Where the client points, by the rules every Flotilla tool follows.

Endpoints: AWS_ENDPOINT_URL for both services (or the `endpoint_url` argument), overridden per
service by AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_S3; none means AWS itself. Region: the
argument, AWS_REGION, AWS_DEFAULT_REGION, the profile's, then us-east-1 for a custom endpoint.
Queue and bucket: the arguments, FLOTILLA_QUEUE_URL / FLOTILLA_BUCKET, or the outputs of the
CloudFormation stack named by `stack` / FLOTILLA_STACK (the outputs Flotilla's CDK stack exports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import ConfigurationError, StackNotFoundError

#: The stack outputs Flotilla's CDK stacks export (STACK_OUTPUTS in infra/definitions.ts).
STACK_OUTPUTS = {"queue_url": "JobQueueUrl", "dlq_url": "DeadLetterQueueUrl", "bucket": "DataBucketName"}


@dataclass(frozen=True)
class Endpoints:
    sqs: str | None
    s3: str | None
    cloudformation: str | None
    region: str | None
    profile: str | None
    #: Access keys from the environment mapping given (boto3 reads only the process's own).
    credentials: dict[str, str]


def _checked(url: str | None) -> str | None:
    if url is None or url == "":
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigurationError(
            f"endpoint '{url}' is not an http:// or https:// URL; give one like http://127.0.0.1:4566"
        )
    return url


def resolve_endpoints(
    env: Mapping[str, str],
    *,
    endpoint_url: str | None = None,
    s3_endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
) -> Endpoints:
    common = _checked(endpoint_url or env.get("AWS_ENDPOINT_URL"))
    return Endpoints(
        sqs=_checked(env.get("AWS_ENDPOINT_URL_SQS")) or common,
        s3=_checked(s3_endpoint_url or env.get("AWS_ENDPOINT_URL_S3")) or common,
        cloudformation=_checked(env.get("AWS_ENDPOINT_URL_CLOUDFORMATION")) or common,
        region=region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        profile=profile or env.get("AWS_PROFILE") or None,
        credentials={
            arg: env[var]
            for arg, var in (
                ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
                ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
                ("aws_session_token", "AWS_SESSION_TOKEN"),
            )
            if env.get(var)
        },
    )


def make_session(ep: Endpoints) -> boto3.session.Session:
    try:
        keys = ep.credentials if not ep.profile and "aws_secret_access_key" in ep.credentials else {}
        session = boto3.session.Session(profile_name=ep.profile, region_name=ep.region, **keys)
    except Exception as err:  # botocore's ProfileNotFound and friends
        raise ConfigurationError(str(err)) from err
    return session


def make_client(
    session: boto3.session.Session, service: str, endpoint: str | None, region: str | None = None
) -> Any:
    """A boto3 client; on a non-AWS endpoint: path-style S3, checksums only where required, us-east-1 by default."""
    options: dict[str, Any] = {"retries": {"max_attempts": 3, "mode": "standard"}}
    region = region or session.region_name
    if endpoint:
        options.update(request_checksum_calculation="when_required", response_checksum_validation="when_required")
        if service == "s3":
            options["s3"] = {"addressing_style": "path"}
        region = region or "us-east-1"
    if not region:
        raise ConfigurationError("no AWS region: set AWS_REGION or pass region=...")
    return session.client(service, endpoint_url=endpoint, region_name=region, config=Config(**options))


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The queue URL, DLQ URL and bucket a deployed Flotilla stack exports (keys of STACK_OUTPUTS)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ValidationError":
            raise StackNotFoundError(stack) from err
        raise
    if not stacks:
        raise StackNotFoundError(stack)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    found = {name: outputs[key] for name, key in STACK_OUTPUTS.items() if key in outputs}
    # Every job queue by name (outputs JobQueueNames and JobQueue<Name>Url), as queue_url:<name>.
    for name in filter(None, outputs.get("JobQueueNames", "").split(",")):
        key = "JobQueueUrl" if name == "default" else f"JobQueue{pascal_case(name)}Url"
        if key in outputs:
            found[f"queue_url:{name}"] = outputs[key]
    return found


def pascal_case(name: str) -> str:
    """`bulk-import` -> `BulkImport`, as the stack names a queue's outputs."""
    return "".join(w[:1].upper() + w[1:] for w in name.split("-"))


def sibling_queue_url(default_url: str, queue: str) -> str | None:
    """The URL of job queue `queue` beside the default one (`X-jobs` -> `X-jobs-urgent`), as
    provisioning names them; None when the default's name is not of that form."""
    if queue == "default":
        return default_url
    base, _, name = default_url.rstrip("/").rpartition("/")
    return f"{base}/{name}-{queue}" if name.endswith("-jobs") else None
