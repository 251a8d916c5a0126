"""The embedded emulator and a real Flotilla worker, started once for the session.

`flotilla local --serve --port 0` (Node, fauxqs in-process) creates a deployment and prints the
shell lines that configure it; `flotilla worker` serves its queue with the built-in handlers.
Both are the repository's own commands, run as a user runs them.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from flotilla_client import Client

REPO = Path(__file__).resolve().parents[3]
HANDLERS = Path(__file__).resolve().parent / "handlers"
EXAMPLES = REPO / "examples" / "command-handlers"
FLOTILLA = [os.environ.get("NODE", "node"), str(REPO / "bin" / "flotilla.mjs")]
SCHEMA_DIR = REPO / "docs" / "schema"
FIXTURES = REPO / "test" / "fixtures" / "envelopes"


@dataclass(frozen=True)
class Deployment:
    env: dict[str, str]
    queue_url: str
    bucket: str
    #: One boto3 session for every client of the run: making one costs more than a test's jobs.
    session: boto3.session.Session

    def client(self, **options: Any) -> Client:
        return Client(env=self.env, session=self.session, **options)

    def boto(self, service: str) -> Any:
        return self.session.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
        )


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "NODE", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(NODE_NO_WARNINGS="1", AWS_EC2_METADATA_DISABLED="true")
    return env


def _read_exports(proc: subprocess.Popen[str]) -> dict[str, str]:
    """The `export A=B C=D` lines `flotilla local --serve` prints, up to FLOTILLA_BUCKET."""
    assert proc.stdout is not None and proc.stderr is not None
    values: dict[str, str] = {}
    while "FLOTILLA_BUCKET" not in values:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"flotilla local --serve exited {proc.wait()}: {proc.stderr.read()}")
        for word in line.removeprefix("export ").split():
            key, _, value = word.partition("=")
            values[key] = value
    return values


def _follow_until(proc: subprocess.Popen[str], marker: str) -> collections.deque[str]:
    """Read a child's output until `marker` (it is up, its signal handlers set), then keep
    draining it in the background so it never blocks on a full pipe; returns its last lines."""
    assert proc.stdout is not None
    out = proc.stdout
    tail: collections.deque[str] = collections.deque(maxlen=50)
    for line in out:
        tail.append(line)
        if marker in line:
            break
    else:
        raise RuntimeError(f"exited {proc.wait()} before printing {marker}: {''.join(tail)}")
    threading.Thread(target=lambda: tail.extend(out), daemon=True).start()
    return tail


def _stop(proc: subprocess.Popen[str], what: str) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise RuntimeError(f"{what} did not stop on SIGTERM within 20 s") from None


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    """The embedded emulator with a deployment served by one real worker (built-in and command handlers)."""
    emulator = subprocess.Popen(
        [*FLOTILLA, "local", "--serve", "--port", "0", "--name", "pytest"],
        env=_base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        exports = _read_exports(emulator)
        env = {**_base_env(), **exports}
        # The built-in handlers, and command handlers: the Python and shell examples, and one using boto3.
        commands = {
            "stats": f"python3 {EXAMPLES / 'stats.py'}",
            "checksum": str(EXAMPLES / "checksum.sh"),
            "to-bucket": f"python3 {HANDLERS / 'to_bucket.py'}",
        }
        exec_flags = [arg for t, c in commands.items() for arg in ("--exec", f"{t}={c}")]
        worker = subprocess.Popen(
            [*FLOTILLA, "worker", "--wait-seconds", "1", *exec_flags],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        log = _follow_until(worker, '"worker started"')
        try:
            session = boto3.session.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                region_name=env["AWS_REGION"],
            )
            yield Deployment(env, exports["FLOTILLA_QUEUE_URL"], exports["FLOTILLA_BUCKET"], session)
        finally:
            code = _stop(worker, "the worker")
            assert code == 0, f"the worker exited {code}: {''.join(log)}"
    finally:
        _stop(emulator, "the emulator")


@pytest.fixture
def quiet(deployment: Deployment) -> Deployment:
    """A queue and bucket of their own on the same emulator, with no worker: what was sent stays there."""
    name = f"quiet-{uuid.uuid4().hex[:10]}"
    queue_url = deployment.boto("sqs").create_queue(QueueName=name)["QueueUrl"]
    deployment.boto("s3").create_bucket(Bucket=name)
    env = {**deployment.env, "FLOTILLA_QUEUE_URL": queue_url, "FLOTILLA_BUCKET": name}
    return Deployment(env, queue_url, name, deployment.session)


def received(d: Deployment) -> list[dict[str, Any]]:
    """Every message on a quiet deployment's queue, parsed."""
    sqs = d.boto("sqs")
    out: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=d.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        out.extend(json.loads(m["Body"]) for m in msgs)


def typescript_results(d: Deployment, batch_id: str, limit: int) -> dict[str, dict[str, Any]]:
    """A batch's results as `flotilla results --json` prints them (what client/submit.ts's
    BatchHandle reads, one record a line), by job id."""
    out = subprocess.run(
        [*FLOTILLA, "results", batch_id, "--json", "--limit", str(limit)],
        env=d.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {r["jobId"]: r for r in map(json.loads, out.stdout.splitlines())}


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text())
