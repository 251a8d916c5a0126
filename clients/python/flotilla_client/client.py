"""Submit jobs to a Flotilla deployment and collect their results, as client/submit.ts does.

    client = Client()                                   # FLOTILLA_* and AWS_* from the environment
    batch = client.submit_many("pi", [{"samples": n} for n in sizes])
    outcome = client.wait(batch)                         # results and dead-lettered jobs
"""

from __future__ import annotations

import collections
import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar, Union

import boto3
from botocore.exceptions import ClientError

from . import envelope as env_
from .config import make_client, make_session, resolve_endpoints, sibling_queue_url, stack_outputs
from .errors import ConfigurationError, InvalidJobError, PayloadTooLargeError, QueueRefusedError

#: SQS caps one SendMessageBatch request at 256 KiB in total, and at 10 messages.
BATCH_BYTES = 256 * 1024
BATCH_MESSAGES = 10
#: Payloads whose message would be larger than this go to the data bucket (a claim check).
DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES = 200 * 1024
#: Payloads larger than this are refused at submit.
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
_SEND_ATTEMPTS = 5
#: The record `flotilla failover` writes in both buckets (core/active-side.ts), and how often it is read.
ACTIVE_SIDE_KEY = "failover/active.json"
_FOLLOW_EVERY_S = 2.0
#: Result packs whose contents a client keeps once read (5 million jobs in packs of 50).
_PACKS_KEPT = 100_000

P = TypeVar("P")


@dataclass(frozen=True)
class Job(Generic[P]):
    """A job of a batch; `id` is its idempotency key (default: its position, j000000, j000001...)."""

    payload: P
    id: str | None = None


class ErrorDetail(TypedDict):
    name: str
    message: str


class ResultRecord(TypedDict):
    """results/<batch>/<job>.json, as docs/schema/result.v1.json describes it."""

    v: int
    jobId: str
    batch: str
    type: str
    status: str
    result: Any
    attempt: int
    startedAt: str
    finishedAt: str
    durationMs: float
    worker: str


class _ErrorRecordBase(TypedDict):
    v: int
    jobId: str
    batch: str
    status: str
    final: bool
    error: ErrorDetail
    attempt: int
    at: str
    worker: str


class ErrorRecord(_ErrorRecordBase, total=False):
    """errors/<batch>/<job>.json, as docs/schema/error.v1.json describes it; `final` = in the DLQ."""

    type: str
    messageId: str


@dataclass(frozen=True)
class Batch:
    """A submitted batch: its id, its job ids, and how many jobs were sent or skipped as done."""

    id: str
    job_ids: tuple[str, ...] | None = None
    sent: int = 0
    skipped: int = 0
    type: str | None = None


@dataclass(frozen=True)
class Status:
    """What the bucket says about a batch now."""

    batch: str
    done: frozenset[str]
    dead_lettered: Mapping[str, ErrorRecord]
    retrying: Mapping[str, ErrorRecord]


@dataclass(frozen=True)
class Outcome:
    batch: str
    #: True when every job is done or dead-lettered.
    complete: bool
    results: dict[str, ResultRecord]
    dead_lettered: list[ErrorRecord]
    #: Job ids neither done nor dead-lettered when waiting stopped.
    pending: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0


BatchLike = Union[Batch, str]


def _finished(rec: ResultRecord) -> datetime:
    return datetime.fromisoformat(rec["finishedAt"].replace("Z", "+00:00"))


class Client:
    """A Flotilla deployment's job queue and data bucket, seen from the submitting side.

    Every argument is optional: the queue and bucket come from `queue_url` / `bucket`,
    FLOTILLA_QUEUE_URL / FLOTILLA_BUCKET, or the outputs of `stack` / FLOTILLA_STACK; the
    endpoint, region and profile from the arguments or the standard AWS_* variables. `env`
    replaces os.environ as the source of those variables; `session` reuses a boto3 session
    (its credentials, profile and region) instead of making one.

    After `flotilla failover`, jobs go to whichever side the record `failover/active.json` in
    the bucket names (read at most every 2 s), with the same credentials, unless
    follow_active_side=False.
    """

    def __init__(
        self,
        *,
        queue_url: str | None = None,
        bucket: str | None = None,
        stack: str | None = None,
        endpoint_url: str | None = None,
        s3_endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        claim_check_threshold_bytes: int = DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        parallel_sends: int = 8,
        session: boto3.session.Session | None = None,
        env: Mapping[str, str] | None = None,
        follow_active_side: bool = True,
        queue_urls: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if env is None else env
        endpoints = resolve_endpoints(
            environ, endpoint_url=endpoint_url, s3_endpoint_url=s3_endpoint_url, region=region, profile=profile
        )
        session = session or make_session(endpoints)
        stack = stack or environ.get("FLOTILLA_STACK") or None
        queue_url = queue_url or environ.get("FLOTILLA_QUEUE_URL") or None
        bucket = bucket or environ.get("FLOTILLA_BUCKET") or None
        if stack and not (queue_url and bucket):
            cloudformation = make_client(session, "cloudformation", endpoints.cloudformation)
            outputs = stack_outputs(cloudformation, stack)
            queue_url = queue_url or outputs.get("queue_url")
            bucket = bucket or outputs.get("bucket")
            named = {k.split(":", 1)[1]: v for k, v in outputs.items() if k.startswith("queue_url:")}
            queue_urls = {**named, **(queue_urls or {})}
        if not queue_url:
            raise ConfigurationError(
                "no job queue given: pass queue_url=... or stack=... (or set FLOTILLA_QUEUE_URL or FLOTILLA_STACK)"
            )
        if not bucket:
            raise ConfigurationError(
                "no data bucket given: pass bucket=... or stack=... (or set FLOTILLA_BUCKET or FLOTILLA_STACK)"
            )
        if claim_check_threshold_bytes < 1 or max_payload_bytes < 1 or parallel_sends < 1:
            raise ConfigurationError(
                "claim_check_threshold_bytes, max_payload_bytes and parallel_sends must be positive"
            )
        self.queue_url = queue_url
        self._home_queue_url = queue_url
        self.bucket = bucket
        self.claim_check_threshold_bytes = claim_check_threshold_bytes
        self.max_payload_bytes = max_payload_bytes
        self.parallel_sends = parallel_sends
        self.sqs = make_client(session, "sqs", endpoints.sqs)
        self.s3 = make_client(session, "s3", endpoints.s3)
        self.follow_active_side = follow_active_side
        self._queue_urls = dict(queue_urls or {})
        self._known_queues: set[str] = set()
        self._session = session
        self._followed_at = float("-inf")
        #: What each result pack read holds (job ids, finish times): a pack never changes once written.
        self._packs: collections.OrderedDict[str, list[tuple[str, datetime]]] = collections.OrderedDict()
        self._packs_lock = threading.Lock()

    # -- submitting ---------------------------------------------------------------------------

    def submit(
        self, job_type: str, payload: Any, *, id: str | None = None, batch: str | None = None, queue: str = "default"
    ) -> Batch:
        """Submit one job (its id a new UUID unless given) to job queue `queue` (urgent, default,
        bulk... as the deployment declares them). Returns its batch, to wait() on."""
        return self.submit_many(
            job_type, [Job(payload, str(uuid.uuid4()) if id is None else id)], batch=batch, queue=queue
        )

    def submit_many(
        self,
        job_type: str,
        jobs: Iterable[Any],
        *,
        batch: str | None = None,
        skip_done: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
        queue: str = "default",
    ) -> Batch:
        """Submit many jobs of one type as one batch.

        Each item is a `Job(payload, id)` or a bare payload; jobs without an id are named by their
        position (j000000...). Re-submitting with the same `batch` skips jobs that already have a
        result (unless skip_done=False). Every job is checked before anything is sent: one bad job
        fails the whole submit.
        """
        env_.check_type(job_type)
        self._follow()
        queue_url = self._queue_url(queue)
        batch_id = env_.check_id(batch, "batch id") if batch is not None else env_.new_batch_id()
        specs: list[tuple[str, Any]] = []
        for i, item in enumerate(jobs):
            job = item if isinstance(item, Job) else Job(item)
            job_id = env_.check_id(job.id, "job id") if job.id is not None else env_.index_id(i)
            specs.append((job_id, job.payload))
        seen: set[str] = set()
        for job_id, _ in specs:
            if job_id in seen:
                raise InvalidJobError(f"job id '{job_id}' appears twice in batch {batch_id}; job ids must be unique")
            seen.add(job_id)
        done = self._done_ids(batch_id) if skip_done else set()
        submitted_at = env_.now_iso()
        bodies: list[tuple[str, str, bytes | None]] = []  # job id, message body, claim-checked payload
        for job_id, payload in specs:
            if job_id not in done:
                bodies.append(self._body(job_type, batch_id, job_id, payload, submitted_at))
        for job_id, body, claim in bodies:
            if claim is not None:
                self._put(env_.payload_key(batch_id, job_id), claim)
        # A named batch may have been sent before (a resumed submit), perhaps with jobs finished
        # since the listing above: its messages say so, and a worker checks for their results
        # before running them. This client writes no batch manifest to tell a first send from a
        # resumed one, so it marks every job of a named batch (docs/protocol.md).
        self._send_all(
            queue_url,
            [(job_id, body) for job_id, body, _ in bodies],
            len(done),
            len(specs),
            on_progress,
            resent=batch is not None,
        )
        return Batch(batch_id, tuple(j for j, _ in specs), sent=len(bodies), skipped=len(done), type=job_type)

    def _body(
        self, job_type: str, batch: str, job_id: str, payload: Any, submitted_at: str
    ) -> tuple[str, str, bytes | None]:
        envelope = env_.envelope(job_type, batch, job_id, payload, submitted_at)
        body = env_.to_json(envelope, job_id)
        if len(body.encode()) <= self.claim_check_threshold_bytes:
            return job_id, body, None
        data = env_.to_json(payload, job_id).encode()
        if len(data) > self.max_payload_bytes:
            raise PayloadTooLargeError(len(data), self.max_payload_bytes, job_id)
        del envelope["payload"]
        envelope["payloadRef"] = env_.payload_ref(env_.payload_key(batch, job_id), data)
        return job_id, env_.to_json(envelope, job_id), data

    def _put(self, key: str, data: bytes) -> None:
        # upload_fileobj goes multipart above 8 MiB, as Submitter does.
        self.s3.upload_fileobj(io.BytesIO(data), self.bucket, key, ExtraArgs={"ContentType": "application/json"})

    def _queue_url(self, queue: str) -> str:
        """The URL of job queue `queue` on the side in use, checked to exist on first use."""
        if queue == "default":
            return self.queue_url
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", queue):
            raise ConfigurationError(f"queue name '{queue}' must be lowercase letters, digits and '-'")
        # Named by the stack's outputs while on the home side; after a failover, beside the
        # active side's default queue (failover keeps the names).
        url = self._queue_urls.get(queue) if self.queue_url == self._home_queue_url else None
        url = url or sibling_queue_url(self.queue_url, queue)
        if url is None:
            raise ConfigurationError(
                f"no job queue named '{queue}': pass queue_urls={{'{queue}': ...}} or stack=... "
                f"(the default queue {self.queue_url} is not named NAME-jobs, so its siblings cannot be found)"
            )
        if url not in self._known_queues:
            try:
                self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            except ClientError as err:
                raise ConfigurationError(f"no job queue named '{queue}' in this deployment ({url}): {err}") from err
            self._known_queues.add(url)
        return url

    def _send_all(
        self,
        queue_url: str,
        entries: list[tuple[str, str]],
        skipped: int,
        total: int,
        on_progress: Callable[[int, int], None] | None,
        *,
        resent: bool,
    ) -> None:
        groups: list[list[tuple[str, str]]] = []
        current: list[tuple[str, str]] = []
        size = 0
        for job_id, body in entries:
            n = len(body.encode())
            if len(current) == BATCH_MESSAGES or (current and size + n > BATCH_BYTES):
                groups.append(current)
                current, size = [], 0
            current.append((job_id, body))
            size += n
        if current:
            groups.append(current)
        lock = threading.Lock()
        sent = [skipped]

        def send(group: list[tuple[str, str]]) -> None:
            self._send_group(queue_url, group, resent)
            with lock:
                sent[0] += len(group)
                if on_progress:
                    on_progress(sent[0], total)

        with ThreadPoolExecutor(max_workers=min(self.parallel_sends, max(len(groups), 1))) as pool:
            for future in [pool.submit(send, g) for g in groups]:
                future.result()

    def _send_group(self, queue_url: str, group: list[tuple[str, str]], resent: bool) -> None:
        mark = {"flotilla-resent": {"DataType": "String", "StringValue": "1"}} if resent else {}
        todo = {
            str(i): {
                "Id": str(i),
                "MessageBody": body,
                "MessageAttributes": {"flotilla-job-id": {"DataType": "String", "StringValue": job_id}, **mark},
            }
            for i, (job_id, body) in enumerate(group)
        }
        for attempt in range(1, _SEND_ATTEMPTS + 1):
            failed = self.sqs.send_message_batch(QueueUrl=queue_url, Entries=list(todo.values())).get("Failed", [])
            if not failed:
                return
            fatal = next((f for f in failed if f.get("SenderFault")), None)
            if fatal or attempt == _SEND_ATTEMPTS:
                f = fatal or failed[0]
                job_id = todo[f["Id"]]["MessageAttributes"]["flotilla-job-id"]["StringValue"]
                raise QueueRefusedError(job_id, f.get("Code", ""), f.get("Message", ""))
            todo = {f["Id"]: todo[f["Id"]] for f in failed}
            time.sleep(0.1 * 2**attempt)

    def _follow(self) -> None:
        """Point at the side `flotilla failover` made active, when the record names another one."""
        if not self.follow_active_side or time.monotonic() - self._followed_at < _FOLLOW_EVERY_S:
            return
        self._followed_at = time.monotonic()
        try:
            record = self._get_json(ACTIVE_SIDE_KEY)
        except ClientError:
            return  # no record (never failed over), or not readable: nothing changes
        active = record.get("active") or {}
        queues = active.get("queues") or {}
        if self.queue_url in queues.values():
            return
        url = queues.get(self.queue_url.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        if not url or not active.get("bucket"):
            where = active.get("endpoint", "AWS")
            raise ConfigurationError(
                f"the active side ({where}) has no copy of {self.queue_url}; run flotilla failover again"
            )
        endpoint, region = active.get("endpoint"), active.get("region")
        self.sqs = make_client(self._session, "sqs", endpoint, region)
        self.s3 = make_client(self._session, "s3", endpoint, region)
        self.queue_url, self.bucket = url, active["bucket"]

    # -- reading the bucket -------------------------------------------------------------------

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys

    def _ids(self, prefix: str) -> set[str]:
        return {k[len(prefix) : -len(".json")] for k in self._keys(prefix) if k.endswith(".json")}

    def _done_ids(self, batch: str) -> set[str]:
        own, packed = self._result_index(batch)
        return own | packed.keys()

    def _result_index(self, batch: str) -> tuple[set[str], dict[str, str]]:
        """One listing of results/<batch>/: the jobs with a record of their own, and for the jobs
        found only in the batch's packs (results/<batch>/packs/, written by a worker with result
        packing on; core/result-packs.ts), the pack whose record counts. A job in several packs
        counts once: the record that finished first (then the smaller pack key), as every
        Flotilla reader picks. Each pack is fetched once; what it holds is kept."""
        prefix = f"results/{batch}/"
        own: set[str] = set()
        pack_keys: list[str] = []
        for key in self._keys(prefix):
            if env_.is_pack_key(key):
                pack_keys.append(key)
            elif key.endswith(".json") and "/" not in key[len(prefix) :]:
                own.add(key[len(prefix) : -len(".json")])
        best: dict[str, tuple[datetime, str]] = {}
        for pack_key, contents in self._pack_contents_of(pack_keys).items():
            for job_id, finished in contents:
                seen = best.get(job_id)
                if seen is None or (finished, pack_key) < seen:
                    best[job_id] = (finished, pack_key)
        return own, {i: pack for i, (_, pack) in best.items() if i not in own}

    def _pack_contents_of(self, keys: list[str]) -> dict[str, list[tuple[str, datetime]]]:
        with self._packs_lock:
            todo = [k for k in keys if k not in self._packs]
        fetched = dict(zip(todo, self._get_many(todo, keep_missing=True))) if todo else {}
        with self._packs_lock:
            for k, pack in fetched.items():
                if pack is not None:
                    self._packs[k] = [(r["jobId"], _finished(r)) for r in pack.get("results", [])]
            while len(self._packs) > _PACKS_KEPT:
                self._packs.popitem(last=False)
            return {k: self._packs[k] for k in keys if k in self._packs}

    def _packed_records(self, where: Mapping[str, str]) -> list[ResultRecord]:
        """The records of these jobs, each from the pack given for it: one GET per pack."""
        wanted: dict[str, set[str]] = {}
        for job_id, pack in where.items():
            wanted.setdefault(pack, set()).add(job_id)
        out: list[ResultRecord] = []
        for ids, pack in zip(wanted.values(), self._get_many(list(wanted), keep_missing=True)):
            out.extend(r for r in (pack or {}).get("results", []) if r["jobId"] in ids)
        return out

    def _get_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def _get_many(self, keys: list[str], *, keep_missing: bool = False) -> list[Any]:
        def get(key: str) -> Any:
            try:
                return self._get_json(key)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None  # deleted between list and get (a redrive clears its error record)
                raise

        with ThreadPoolExecutor(max_workers=16) as pool:
            return [r for r in pool.map(get, keys) if keep_missing or r is not None]

    def batch(self, batch: str, job_ids: Iterable[str] | None = None) -> Batch:
        """A handle on a batch submitted earlier (by id, from any client), to wait() on."""
        return Batch(env_.check_id(batch, "batch id"), tuple(job_ids) if job_ids is not None else None)

    def status(self, batch: BatchLike) -> Status:
        """One listing of results/ and one of errors/; the error records of jobs not done (and each result pack not read before)."""
        b = self._handle(batch)
        self._follow()
        done = self._done_ids(b.id)
        prefix = f"errors/{b.id}/"
        failed = [env_.error_key(b.id, i) for i in sorted(self._ids(prefix) - done)]
        dead: dict[str, ErrorRecord] = {}
        retrying: dict[str, ErrorRecord] = {}
        for rec in self._get_many(failed):
            (dead if rec.get("final") else retrying)[rec["jobId"]] = rec
        return Status(b.id, frozenset(done), dead, retrying)

    def results(self, batch: BatchLike) -> dict[str, ResultRecord]:
        """The result records a batch has now (of its jobs, when the handle knows them), by job id."""
        b = self._handle(batch)
        own, packed = self._result_index(b.id)
        wanted = set(b.job_ids) if b.job_ids is not None else own | packed.keys()
        records = self._get_many([env_.result_key(b.id, i) for i in sorted(own & wanted)])
        records += self._packed_records({i: p for i, p in packed.items() if i in wanted})
        return {r["jobId"]: r for r in records}

    def wait(
        self,
        batch: BatchLike,
        *,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        on_progress: Callable[[Status, int], None] | None = None,
    ) -> Outcome:
        """Poll the bucket until every job has a result or went to the DLQ, or `timeout` seconds pass.

        For a batch given by id alone, the jobs waited for are those with any record in the bucket.
        """
        b = self._handle(batch)
        started = time.monotonic()
        while True:
            status = self.status(b)
            ids = list(b.job_ids) if b.job_ids is not None else sorted(
                status.done | status.dead_lettered.keys() | status.retrying.keys()
            )
            if on_progress:
                on_progress(status, len(ids))
            pending = [i for i in ids if i not in status.done and i not in status.dead_lettered]
            timed_out = timeout is not None and time.monotonic() - started >= timeout
            if not pending or timed_out:
                return Outcome(
                    batch=b.id,
                    complete=not pending,
                    results=self.results(b),
                    dead_lettered=list(status.dead_lettered.values()),
                    pending=pending,
                    elapsed_seconds=time.monotonic() - started,
                )
            time.sleep(poll_interval)

    @staticmethod
    def _handle(batch: BatchLike) -> Batch:
        if isinstance(batch, Batch):
            return batch
        return Batch(env_.check_id(batch, "batch id"))
