"""The v1 job envelope and the bucket's layout, as client/submit.ts and core/envelope.ts define them.

docs/schema/envelope.v1.json is the published form; the tests check what this module builds against it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidIdError, InvalidJobError

ENVELOPE_VERSION = 1

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")


def check_id(value: object, what: str) -> str:
    """Return `value` if it is a valid job or batch id, else raise InvalidIdError."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise InvalidIdError(what, value)
    return value


def check_type(value: object) -> str:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise InvalidJobError(
            f"job type {value!r} is invalid: it must be a letter followed by up to 63 letters, digits or _.:-"
        )
    return value


def result_key(batch: str, job_id: str) -> str:
    return f"results/{batch}/{job_id}.json"


_PACK_KEY = re.compile(r"results/[^/]+/packs/[^/]+\.json")


def is_pack_key(key: str) -> bool:
    """Whether a key is a result pack: results/<batch>/packs/<pack>.json (core/result-packs.ts)."""
    return _PACK_KEY.fullmatch(key) is not None


def error_key(batch: str, job_id: str) -> str:
    return f"errors/{batch}/{job_id}.json"


def payload_key(batch: str, job_id: str) -> str:
    return f"payloads/{batch}/{job_id}.json"


def new_batch_id(now: datetime | None = None) -> str:
    """b<UTC date>-<time>-<6 hex digits>, as Submitter names batches."""
    t = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return f"b{t}-{secrets.token_hex(3)}"


def index_id(i: int) -> str:
    """The id of a job given without one: its position in the batch, so a re-run names it the same."""
    return f"j{i:06d}"


def now_iso() -> str:
    """The time as JavaScript's toISOString writes it (milliseconds, Z), which the envelope requires."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(value: Any, job_id: str) -> str:
    """Compact JSON as JSON.stringify writes it; NaN, infinities and non-JSON values are refused."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidJobError(f"job {job_id}: payload is not JSON: {err}") from err


def envelope(job_type: str, batch: str, job_id: str, payload: Any, submitted_at: str) -> dict[str, Any]:
    return {
        "v": ENVELOPE_VERSION,
        "id": job_id,
        "type": job_type,
        "batch": batch,
        "submittedAt": submitted_at,
        "payload": payload,
    }


def payload_ref(key: str, body: bytes) -> dict[str, Any]:
    return {"key": key, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
