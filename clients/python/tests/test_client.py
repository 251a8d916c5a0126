"""The client against the embedded emulator, with a real Flotilla worker running the jobs."""

from __future__ import annotations

import json
import uuid

import jsonschema
import pytest
from conftest import FIXTURES, Deployment, received, schema, typescript_results

from flotilla_client import ConfigurationError, Job

FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def test_submit_returns_a_batch_whose_wait_gives_the_result(deployment: Deployment) -> None:
    c = deployment.client()
    batch = c.submit("echo", {"hello": "world"}, id="greeting")
    outcome = c.wait(batch, timeout=30)
    assert outcome.complete
    assert list(outcome.results) == ["greeting"]
    record = outcome.results["greeting"]
    assert record["result"] == {"hello": "world"}
    assert (record["batch"], record["type"], record["status"]) == (batch.id, "echo", "done")
    jsonschema.validate(record, schema("result.v1.json"), format_checker=FORMATS)


def test_submit_to_the_urgent_queue_reaches_a_worker_serving_every_queue(deployment: Deployment) -> None:
    c = deployment.client()
    batch = c.submit("echo", {"rush": True}, id="now", queue="urgent")
    # It went to the urgent queue beside the default one, not to the default queue.
    urgent_url = deployment.queue_url + "-urgent"
    assert c.wait(batch, timeout=30).results["now"]["result"] == {"rush": True}
    sqs = deployment.boto("sqs")
    assert urgent_url in sqs.list_queues(QueueNamePrefix=urgent_url.rsplit("/", 1)[-1]).get("QueueUrls", [])
    with pytest.raises(ConfigurationError, match="no job queue named 'nowhere'"):
        c.submit("echo", {}, queue="nowhere")
    with pytest.raises(ConfigurationError, match="must be lowercase"):
        c.submit("echo", {}, queue="../default")


def test_submit_many_sends_in_batches_and_claim_checks_a_large_payload(deployment: Deployment) -> None:
    c = deployment.client()
    big = "x" * (300 * 1024)  # over the 200 KiB claim-check threshold
    jobs: list[object] = [{"samples": 20_000 + i} for i in range(24)] + [Job({"text": big}, id="big")]
    progress: list[tuple[int, int]] = []
    batch = c.submit_many("echo", jobs, on_progress=lambda n, total: progress.append((n, total)))
    assert batch.sent == 25 and batch.job_ids is not None and batch.job_ids[:2] == ("j000000", "j000001")
    assert progress[-1] == (25, 25) and len(progress) >= 3  # 10 a call at most

    stored = c.s3.get_object(Bucket=c.bucket, Key=f"payloads/{batch.id}/big.json")["Body"].read()
    assert json.loads(stored) == {"text": big}

    outcome = c.wait(batch, timeout=30)
    assert outcome.complete and outcome.pending == [] and outcome.dead_lettered == []
    assert len(outcome.results) == 25
    assert outcome.results["big"]["result"] == {"text": big}
    assert outcome.results["j000023"]["result"] == {"samples": 20_023}


def test_pi_jobs_compute_on_the_worker(deployment: Deployment) -> None:
    c = deployment.client()
    outcome = c.wait(c.submit_many("pi", [{"samples": 100_000}] * 3), timeout=30)
    estimates = [r["result"]["estimate"] for r in outcome.results.values()]
    assert len(estimates) == 3 and all(3.0 < e < 3.3 for e in estimates)


def test_resubmitting_a_batch_skips_the_jobs_that_have_results(deployment: Deployment) -> None:
    c = deployment.client()
    first = c.submit_many("echo", ["a", "b", "c"])
    assert c.wait(first, timeout=30).complete
    again = c.submit_many("echo", ["a", "b", "c", "d"], batch=first.id)
    assert (again.sent, again.skipped) == (1, 3)
    outcome = c.wait(again, timeout=30)
    assert {k: r["result"] for k, r in outcome.results.items()} == {
        "j000000": "a",
        "j000001": "b",
        "j000002": "c",
        "j000003": "d",
    }
    assert {r["attempt"] for r in outcome.results.values()} == {1}  # none ran twice


def test_a_job_the_worker_cannot_run_comes_back_dead_lettered(deployment: Deployment) -> None:
    c = deployment.client()
    batch = c.submit_many("echo", [Job("fine", id="ok")])
    c.submit("no-such-type", {}, id="lost", batch=batch.id)
    outcome = c.wait(c.batch(batch.id, ["ok", "lost"]), timeout=30)
    assert outcome.complete
    assert list(outcome.results) == ["ok"]
    [dead] = outcome.dead_lettered
    assert (dead["jobId"], dead["final"], dead["error"]["name"]) == ("lost", True, "UnknownJobTypeError")
    jsonschema.validate(dead, schema("error.v1.json"), format_checker=FORMATS)


def test_wait_stops_at_its_timeout_with_the_jobs_still_pending(quiet: Deployment) -> None:
    c = quiet.client()  # no worker serves this queue
    outcome = c.wait(c.submit_many("echo", [1, 2]), timeout=0.3, poll_interval=0.1)
    assert not outcome.complete
    assert outcome.pending == ["j000000", "j000001"] and outcome.results == {}


def test_typescript_batch_handle_reads_the_same_results(deployment: Deployment) -> None:
    c = deployment.client()
    batch = c.submit_many("pi", [{"samples": 50_000, "seed": s} for s in range(1, 13)])
    py = c.wait(batch, timeout=30).results
    ts = typescript_results(deployment, batch.id, 100)
    assert len(ts) == 12 and ts == py == c.results(batch)


@pytest.mark.parametrize("threshold", [None, 100])
def test_what_it_sends_matches_submitter_byte_for_byte(quiet: Deployment, threshold: int | None) -> None:
    name = "submitter-inline.json" if threshold is None else "submitter-claim-check.json"
    want = json.loads((FIXTURES / "valid" / name).read_text())
    payload: object = {"samples": 1000}
    if threshold is not None:
        payload = {"text": "a payload large enough to pass the test's claim-check threshold"}
    c = quiet.client(**({"claim_check_threshold_bytes": threshold} if threshold else {}))
    c.submit("echo", payload, id="job-1", batch="b20261202-043656-a1b2c3")
    [got] = received(quiet)
    assert {**got, "submittedAt": want["submittedAt"]} == want


def test_submit_follows_a_failover_to_the_side_the_record_names(deployment: Deployment) -> None:
    # Two queues and buckets of their own, so the deployment's worker is not paused.
    sqs, s3 = deployment.boto("sqs"), deployment.boto("s3")
    name = f"follow-{uuid.uuid4().hex[:8]}"
    here, there = (sqs.create_queue(QueueName=f"{name}-{side}")["QueueUrl"] for side in ("a", "b"))
    for side in ("a", "b"):
        s3.create_bucket(Bucket=f"{name}-{side}")
    c = deployment.client(queue_url=here, bucket=f"{name}-a")
    record = {
        "v": 1,
        "active": {
            "endpoint": deployment.env["AWS_ENDPOINT_URL"],
            "bucket": f"{name}-b",
            "queues": {f"{name}-a": there},
        },
        "state": "active",
        "at": "2026-12-02T00:00:00Z",
    }
    s3.put_object(Bucket=f"{name}-a", Key="failover/active.json", Body=json.dumps(record).encode())
    c.submit("echo", {"n": 1}, id="moved")
    got = sqs.receive_message(QueueUrl=there, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(m["Body"])["id"] for m in got] == ["moved"]
    assert sqs.receive_message(QueueUrl=here, WaitTimeSeconds=0).get("Messages", []) == []
    assert (c.queue_url, c.bucket) == (there, f"{name}-b")
