"""Structured JSON logs carrying the delivery id, with every secret redacted.

``configure_logging`` puts one handler on the root logger: each record becomes one JSON line
(python-json-logger) with ``delivery_id`` when one is bound (``bound_delivery``), and the whole
line, exception text included, goes through the :class:`~bot.core.redact.Redactor` before it is
written. Flask's and the libraries' loggers propagate to it.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from bot.core.redact import Redactor

_DELIVERY: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "eucora_delivery_id", default=None
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextmanager
def bound_delivery(delivery_id: str | None) -> Iterator[None]:
    """Log records made inside carry ``delivery_id`` (the audit correlation id)."""
    token = _DELIVERY.set(delivery_id)
    try:
        yield
    finally:
        _DELIVERY.reset(token)


class _DeliveryFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        delivery_id = _DELIVERY.get()
        if delivery_id is not None and not hasattr(record, "delivery_id"):
            record.delivery_id = delivery_id
        return True


class RedactingJsonFormatter(JsonFormatter):
    """A JSON line per record, redacted as a whole (message, extras, traceback)."""

    def __init__(self, redactor: Redactor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """Format, then redact the finished line."""
        return self._redactor(super().format(record))


QUIET_LOGGERS = ("alembic",)
"""Libraries whose INFO lines say nothing to an operator ("setup plugin ...", "Context impl
SQLiteImpl" at every schema check); EUCORA reports what a migration did itself."""


def configure_logging(
    redactor: Redactor, *, stream: IO[str] | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as redacted JSON; return the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        RedactingJsonFormatter(redactor, LOG_FORMAT, rename_fields={"levelname": "level"})
    )
    handler.addFilter(_DeliveryFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_eucora", False):
            root.removeHandler(old)
    handler._eucora = True  # type: ignore[attr-defined]  # noqa: SLF001 - marks our handler
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    return handler
