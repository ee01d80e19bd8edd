"""Every exception novita-ui raises on purpose. Nothing else crosses a module boundary.

    NovitaUIError                     base; its message is safe to show a user (never holds the key)
    ├── InputError                    the user's image, mask, prompt or options cannot be used (CLI exit 2)
    │   ├── MissingAPIKeyError        a Novita engine was chosen but no key is configured anywhere
    │   └── BudgetExhaustedError      the server key's hourly budget is spent (--max-requests-per-hour)
    └── RemoteError                   the remote side failed (CLI exit 1)
        ├── APIStatusError            Novita answered with an error status
        │   ├── AuthenticationError   401 or 403: missing, wrong or unauthorised key
        │   ├── BadRequestError       400/404/422: Novita's reason and message
        │   ├── RateLimitError        429, still after the retry budget
        │   └── ServerError           5xx, still after the retry budget
        ├── APIConnectionError        could not reach Novita, or the connection broke
        │   └── APITimeoutError       connect or read timeout, still after the retry budget
        ├── MalformedResponseError    Novita answered 2xx with a body we cannot use
        └── TaskError                 an asynchronous task went wrong; carries task_id for support
            ├── TaskFailedError       the task ended FAILED (with Novita's reason)
            ├── TaskTimeoutError      the task did not finish within the poll deadline
            └── ResultDownloadError   the task succeeded but its image could not be fetched or decoded

httpx exceptions are mapped to these in exactly one place (novita.wire.transport_failure).
"""

from __future__ import annotations


class NovitaUIError(Exception):
    """Base class; ``str(error)`` is a complete sentence meant for the user."""


class InputError(NovitaUIError):
    """The input cannot be processed; the message says what to change."""


class MissingAPIKeyError(InputError):
    """A Novita engine needs a key and none was given."""


class BudgetExhaustedError(InputError):
    """The server's own key has used its hourly request budget; the user can bring a key or wait."""


class RemoteError(NovitaUIError):
    """The remote service failed to produce a result."""


class APIStatusError(RemoteError):
    """Novita answered with an HTTP error status."""

    def __init__(self, message: str, *, status_code: int, reason: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason


class AuthenticationError(APIStatusError):
    """401/403: the key is missing, wrong or not allowed to use this endpoint."""


class BadRequestError(APIStatusError):
    """Novita rejected the request (400/404/422)."""


class RateLimitError(APIStatusError):
    """Novita kept answering 429 after every retry."""


class ServerError(APIStatusError):
    """Novita kept answering 5xx after every retry."""


class APIConnectionError(RemoteError):
    """Novita could not be reached, or the connection broke mid-request."""


class APITimeoutError(APIConnectionError):
    """Novita did not answer in time."""


class MalformedResponseError(RemoteError):
    """Novita answered successfully, but with a body that cannot be used."""


class TaskError(RemoteError):
    """An asynchronous task went wrong; ``task_id`` lets Novita's support trace it."""

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class TaskFailedError(TaskError):
    """The task ended with status FAILED."""

    def __init__(self, message: str, *, task_id: str, reason: str) -> None:
        super().__init__(message, task_id=task_id)
        self.reason = reason


class TaskTimeoutError(TaskError):
    """The task was still running when the poll deadline passed."""


class ResultDownloadError(TaskError):
    """The task succeeded but its result image could not be downloaded or decoded."""
