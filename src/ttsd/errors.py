"""Domain errors. Each carries a stable machine-readable ``code``; the API layer maps them to HTTP statuses.

Nothing here knows about HTTP: ``api`` owns the mapping (see ``ttsd.api.errors``).
"""

from __future__ import annotations


class TTSError(Exception):
    """Base class of every error ttsd raises on purpose."""

    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TextError(TTSError):
    """The text cannot be synthesized (empty after normalization, nothing pronounceable...)."""

    code = "invalid_text"


class TextTooLong(TextError):
    """The text is longer than the configured limit."""

    code = "text_too_long"

    def __init__(self, message: str, *, limit: int, length: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.length = length


class InvalidMarkup(TextError):
    """SSML that is not well-formed or uses an element, attribute or value wrongly (a 422, like TextError).

    ``line`` and ``column`` (both from 1) point at the offending place in the markup; the message names them,
    says what is wrong and what is accepted instead.
    """

    code = "invalid_markup"

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(f"SSML line {line}, column {column}: {message}")
        self.line = line
        self.column = column


class InvalidControl(TTSError):
    """A synthesis control (speed, pitch, format, sample rate...) is out of range or unknown."""

    code = "invalid_parameter"

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param


class UnknownVoice(TTSError):
    """The requested voice, speaker or emotion does not exist in the loaded backend."""

    code = "unknown_voice"


class QueueFull(TTSError):
    """Admission refused the request before any work: the work already admitted would take longer than the
    backlog budget (``TTSD_MAX_BACKLOG_S``). The only refusal for load; ``retry_after_s`` estimates when to retry."""

    code = "queue_full"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(TTSError):
    """The request's deadline passed before its audio was ready."""

    code = "timeout"


class Cancelled(TTSError):
    """The client went away; its queued work was dropped."""

    code = "cancelled"


class ShuttingDown(TTSError):
    """The service is draining or not ready yet and takes no new work."""

    code = "unavailable"


class BackendError(TTSError):
    """The model failed while running a batch. The message is safe to show; details go to the log."""

    code = "backend_error"


class BackendDead(BackendError):
    """The model thread hung past the watchdog or died: this process can no longer synthesize with that voice.
    The engine goes to ``failed`` (``/readyz`` says so) and ``ttsd serve`` exits for the orchestrator to restart."""

    code = "backend_dead"


class AssetError(TTSError):
    """Model files are missing, corrupt or of the wrong version. The message names the fix."""

    code = "asset_error"


class BackendUnavailable(TTSError):
    """An optional backend's packages or model files are not installed. The message names the fix."""

    code = "backend_unavailable"


class JobNotFound(TTSError):
    """No long-form job has this id (never submitted, removed, or past its retention)."""

    code = "job_not_found"


class JobStateConflict(TTSError):
    """The job is not in a state that allows this (its audio before it succeeded, cancelling a finished job)."""

    code = "job_state_conflict"

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class StorageFull(TTSError):
    """The long-form jobs' disk budget (or the disk itself) cannot hold another job now."""

    code = "insufficient_storage"
