"""Results written in packs (a worker with --result-packing) read as if written alone."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from conftest import FLOTILLA, Deployment, _follow_until, _stop, typescript_results


@pytest.fixture
def packing(quiet: Deployment) -> Iterator[Deployment]:
    """A deployment of its own, served by a worker that packs results."""
    worker = subprocess.Popen(
        [*FLOTILLA, "worker", "--wait-seconds", "1", "--result-packing", "maxJobs=50,maxDelayMs=200"],
        env=quiet.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = _follow_until(worker, '"worker started"')
    try:
        yield quiet
    finally:
        code = _stop(worker, "the packing worker")
        assert code == 0, f"the packing worker exited {code}: {''.join(log)}"


def test_packed_results_read_as_single_ones(packing: Deployment) -> None:
    c = packing.client()
    batch = c.submit_many("echo", [{"n": i} for i in range(120)])
    outcome = c.wait(batch, timeout=60)
    assert outcome.complete and len(outcome.results) == 120
    assert all(outcome.results[f"j{i:06d}"]["result"] == {"n": i} for i in range(120))
    keys = [
        o["Key"]
        for page in packing.boto("s3").get_paginator("list_objects_v2").paginate(
            Bucket=packing.bucket, Prefix=f"results/{batch.id}/"
        )
        for o in page.get("Contents", [])
    ]
    assert keys and len(keys) < 120 and all("/packs/" in k for k in keys)
    assert typescript_results(packing, batch.id, 200) == outcome.results == c.results(batch)
    # A resubmit of the same batch id skips every job: packed results count as done.
    again = c.submit_many("echo", [{"n": i} for i in range(120)], batch=batch.id)
    assert (again.sent, again.skipped) == (0, 120)


def test_a_job_in_two_packs_and_alone_counts_once(quiet: Deployment) -> None:
    s3 = quiet.boto("s3")

    def record(job: str, worker: str, finished: str) -> dict[str, object]:
        return {
            "v": 1, "jobId": job, "batch": "bp", "type": "echo", "status": "done", "result": worker,
            "attempt": 1, "startedAt": finished, "finishedAt": finished, "durationMs": 1, "worker": worker,
        }

    def put(key: str, body: object) -> None:
        s3.put_object(Bucket=quiet.bucket, Key=key, Body=json.dumps(body).encode())

    def pack(worker: str, *records: object) -> dict[str, object]:
        return {"v": 1, "batch": "bp", "worker": worker, "at": "2026-01-01T00:00:03.000Z", "results": list(records)}

    put("results/bp/packs/a-1.json", pack("late", record("both", "late", "2026-01-01T00:00:02.000Z")))
    put("results/bp/packs/b-1.json", pack("early", record("both", "early", "2026-01-01T00:00:01.000Z"),
                                         record("alone", "packed", "2026-01-01T00:00:01.000Z")))
    put("results/bp/alone.json", record("alone", "single", "2026-01-01T00:00:05.000Z"))
    c = quiet.client()
    results = c.results("bp")
    assert {k: v["result"] for k, v in results.items()} == {"both": "early", "alone": "single"}
    assert c.status("bp").done == frozenset({"both", "alone"})
    assert typescript_results(quiet, "bp", 10) == results
