"""Logging as a pipeline, configured once: contextvars → level → ISO UTC time → redaction →
JSON (or the console renderer on a TTY). Event names are dotted verbs: ``job.transitioned``.
"""

from __future__ import annotations

import logging
import re
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


# Credentials that travel inside URLs, besides our own callback tokens: Telegram's bot token,
# a Discord webhook's token, a Slack incoming webhook's path.
_URL_SECRETS = (
    (re.compile(r"/bot\d+:[\w-]+"), "/bot***"),
    (re.compile(r"(/api(?:/v\d+)?/webhooks/)[^/?#\s\"']+/[^/?#\s\"']+"), r"\1***"),
    (re.compile(r"(/(?:services|triggers|workflows)/)[^?#\s\"']+"), r"\1***"),
)
# Text without any of these cannot hold a secret URL: the cheap test keeps logging fast.
_MARKERS = ("hooks", "/bot", "/services/", "/triggers/", "/workflows/")


def redact_text(text: str) -> str:
    """``text`` with callback tokens and chat credentials in URLs blanked out."""
    if not any(marker in text for marker in _MARKERS):
        return text
    text = redact_callback_urls(text)
    for pattern, replacement in _URL_SECRETS:
        text = pattern.sub(replacement, text)
    return text


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Blank out values under secret-looking keys, and secrets inside URLs anywhere else."""
    for key, value in list(event.items()):
        if key.lower() in SECRET_KEYS and value is not None:
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


class RedactRecords(logging.Filter):
    """The same for stdlib log records: httpx logs every request line, URL and all, at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_HTTPX_LOG = logging.getLogger("httpx")
if not any(isinstance(f, RedactRecords) for f in _HTTPX_LOG.filters):
    _HTTPX_LOG.addFilter(RedactRecords())


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
