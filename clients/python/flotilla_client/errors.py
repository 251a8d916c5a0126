"""The errors the client raises: one class per thing a caller can fix, all FlotillaError."""

from __future__ import annotations


class FlotillaError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(FlotillaError):
    """No job queue or data bucket given, or the endpoint configuration is unusable."""


class StackNotFoundError(ConfigurationError):
    """The CloudFormation stack named to read the queue and bucket from does not exist."""

    def __init__(self, stack: str) -> None:
        super().__init__(
            f"stack '{stack}' does not exist in this account and region; "
            "deploy it or check the region and profile"
        )
        self.stack = stack


class InvalidJobError(FlotillaError, ValueError):
    """A job the worker would refuse: bad job type, payload that is not JSON, repeated id."""


class InvalidIdError(InvalidJobError):
    """A job id or batch id outside the safe alphabet (they become S3 key segments)."""

    def __init__(self, what: str, value: object) -> None:
        super().__init__(
            f"{what} {value!r} is invalid: it must be 1-128 characters of letters, digits, "
            "'_', '.', '-', starting with a letter or digit, without '..'"
        )
        self.value = value


class PayloadTooLargeError(FlotillaError):
    """A payload over the client's limit (64 MiB unless configured), refused before anything is sent."""

    def __init__(self, size: int, limit: int, job_id: str) -> None:
        super().__init__(
            f"job {job_id}: payload is {size} bytes, over the {limit}-byte limit; "
            "store the data in the bucket and send its key instead"
        )
        self.size = size
        self.limit = limit
        self.job_id = job_id


class QueueRefusedError(FlotillaError):
    """SQS refused a message (after retries for the errors worth retrying)."""

    def __init__(self, job_id: str, code: str, message: str) -> None:
        super().__init__(f"the queue refused job {job_id}: {code} {message}".strip())
        self.job_id = job_id
        self.code = code
