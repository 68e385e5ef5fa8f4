"""Logging as a pipeline, configured once: contextvars → level → ISO UTC time → redaction →
JSON (or the console renderer on a TTY). Event names are dotted verbs: ``job.transitioned``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from .callbacks import redact_callback_urls

SECRET_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "token",
        "api_token",
        "secret",
        "secret_key",
        "authorization",
        "callback_url",
        "webhook_url",
        "password",
    }
)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Blank out values under secret-looking keys and tokens inside callback URLs."""
    for key, value in list(event.items()):
        if key.lower() in SECRET_KEYS and value is not None:
            event[key] = "***"
        elif isinstance(value, str) and "/hooks/" in value:
            event[key] = redact_callback_urls(value)
    return event


def configure_logging(*, log_format: str = "auto", level: str = "info") -> None:
    console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
