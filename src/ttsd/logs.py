"""Process-wide logging, configured once at the edge (``ttsd serve``, ``ttsd model convert``).

One handler on the root logger writes every line, as text or as one JSON object per line
(``TTSD_LOG_FORMAT=json``). Libraries that bring their own handlers are folded into it, so each of their lines
appears exactly once and in the chosen format:

* uvicorn's loggers lose their handlers and propagate to the root;
* WeTextProcessing (logger ``wetext``: "found existing fst", "building fst for ...") adds a handler at import
  only when its logger has none: a :class:`logging.NullHandler` placed first keeps it from adding one;
* jieba (logger ``jieba``: "Building prefix dict ...", "Loading model cost ...") adds a stderr handler at import
  unconditionally: it is imported here and that handler removed.

Their chatter (INFO and below) is re-levelled to DEBUG, shown only with ``TTSD_LOG_LEVEL=debug``; their warnings
and errors keep their level. Python warnings are logged too (logger ``py.warnings``), not printed raw.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# Loggers of the text front end's libraries: WeTextProcessing's (tn and itn share "wetext") and jieba's.
LIBRARY_LOGGERS = ("wetext", "jieba")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


class ChatterToDebug(logging.Filter):
    """Re-levels a library's INFO/DEBUG records to DEBUG and keeps them only when the root logger shows DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def configure_logging(level: str, fmt: str, *, stream: TextIO | None = None) -> None:
    """Configure the root logger (``level``: debug/info/warning/error; ``fmt``: text or json) writing to
    ``stream`` (default stderr), and fold uvicorn's and the text libraries' loggers into it. Idempotent."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)
    for name in UVICORN_LOGGERS:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    _import_jieba()  # it attaches its handler at import: import it now, so that the handler is taken off below
    for name in LIBRARY_LOGGERS:
        fold_library_logger(logging.getLogger(name))


def fold_library_logger(logger: logging.Logger) -> None:
    """Make a library's logger write through the root handler only, with its chatter at DEBUG."""
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(logging.NullHandler())  # "has a handler": libraries that check will not add their own
    logger.setLevel(logging.NOTSET)  # follow the root's level (jieba sets DEBUG, WeTextProcessing INFO)
    logger.propagate = True
    if not any(isinstance(f, ChatterToDebug) for f in logger.filters):
        logger.addFilter(ChatterToDebug())


def _import_jieba() -> None:
    try:
        import jieba  # noqa: F401  (about 0.1 s; no dictionary is loaded at import)
    except ImportError:  # pragma: no cover - jieba is a dependency; nothing to fold without it
        return
