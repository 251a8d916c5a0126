"""Flotilla's Python client: submit jobs to a Flotilla deployment and read their results.

boto3 is its only dependency. The messages it sends follow docs/schema/envelope.v1.json; the
records it reads follow docs/schema/result.v1.json and docs/schema/error.v1.json.
"""

from .client import (
    Batch,
    Client,
    ErrorRecord,
    Job,
    Outcome,
    ResultRecord,
    Status,
)
from .errors import (
    ConfigurationError,
    FlotillaError,
    InvalidIdError,
    InvalidJobError,
    PayloadTooLargeError,
    QueueRefusedError,
    StackNotFoundError,
)

__all__ = [
    "Batch",
    "Client",
    "ConfigurationError",
    "ErrorRecord",
    "FlotillaError",
    "InvalidIdError",
    "InvalidJobError",
    "Job",
    "Outcome",
    "PayloadTooLargeError",
    "QueueRefusedError",
    "ResultRecord",
    "StackNotFoundError",
    "Status",
]
