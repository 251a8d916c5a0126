"""Command handlers: jobs from the Python client run by Python (and shell) programs bound to job
types with `flotilla worker --exec`, the results read back by both clients."""

from __future__ import annotations

import re
import shutil
import statistics

import pytest
from conftest import EXAMPLES, REPO, Deployment, typescript_results

JOBS = 100


def test_a_python_handler_runs_every_job_and_both_clients_read_the_results(deployment: Deployment) -> None:
    c = deployment.client()
    jobs = [{"numbers": list(range(i + 1))} for i in range(JOBS)]
    batch = c.submit_many("stats", jobs)
    outcome = c.wait(batch, timeout=90)
    assert outcome.complete and not outcome.dead_lettered
    assert len(outcome.results) == JOBS
    for i in range(JOBS):
        numbers = list(range(i + 1))
        assert outcome.results[f"j{i:06d}"]["result"] == {
            "count": i + 1,
            "sum": sum(numbers),
            "mean": statistics.fmean(numbers),
            "stdev": statistics.pstdev(numbers),
        }
    ts = typescript_results(deployment, batch.id, JOBS)
    assert ts == outcome.results


def test_exit_65_sends_the_job_to_the_dlq_with_the_programs_reason(deployment: Deployment) -> None:
    c = deployment.client()
    batch = c.submit("stats", {"numbers": []}, id="empty")
    [dead] = c.wait(batch, timeout=30).dead_lettered
    assert dead["attempt"] == 1 and dead["error"]["name"] == "UnrecoverableError"
    assert dead["error"]["message"].endswith("job empty: payload needs a non-empty 'numbers' list")


def test_the_program_reaches_the_data_bucket_with_boto3_through_the_aws_variables(deployment: Deployment) -> None:
    c = deployment.client()
    batch = c.submit("to-bucket", {"text": "hello"}, id="up")
    [record] = c.wait(batch, timeout=30).results.values()
    key = record["result"]["key"]
    body = deployment.boto("s3").get_object(Bucket=deployment.bucket, Key=key)["Body"].read()
    assert body == b"HELLO"


@pytest.mark.skipif(not (shutil.which("aws") and shutil.which("jq")), reason="needs the AWS CLI and jq")
def test_the_shell_example_reads_the_bucket_with_the_aws_cli(deployment: Deployment) -> None:
    deployment.boto("s3").put_object(Bucket=deployment.bucket, Key="inputs/hello.txt", Body=b"hello")
    c = deployment.client()
    batch = c.submit("checksum", {"key": "inputs/hello.txt"})
    [record] = c.wait(batch, timeout=30).results.values()
    assert record["result"] == {
        "key": "inputs/hello.txt",
        "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    }


def test_the_docs_show_the_example_handlers_as_they_are() -> None:
    doc = (REPO / "docs" / "workers.md").read_text()
    blocks = re.findall(r"```(?:python|sh)\n(.*?)```", doc, re.S)
    for name in ("stats.py", "checksum.sh"):
        assert (EXAMPLES / name).read_text() in blocks, f"docs/workers.md lost examples/command-handlers/{name}"
