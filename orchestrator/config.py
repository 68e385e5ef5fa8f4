"""Configuration, read once from ``CLIPWIRE_*`` environment variables."""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import ConfigError

DEFAULT_PORT = 8700


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str | None = None
    ngrok_api: str = "http://127.0.0.1:4040/api"
    secret_key: str | None = None
    api_token: str | None = None
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    token_max_age: float = 48 * 3600.0
    mirror_max_bytes: int = 512 * 1024 * 1024
    mirror_allow_origins: tuple[str, ...] = ()  # e.g. "http://127.0.0.1:9000": skip the SSRF guard
    max_body_bytes: int = 1024 * 1024
    body_timeout: float = 10.0  # seconds a request's whole body may take to arrive (408 after)
    webhook_url: str | None = None  # where the webhook action POSTs when the job names no url
    # Standard Webhooks secrets (whsec_<base64>); each signs every delivery (key rotation).
    webhook_secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    sim_enabled: bool = True
    sim_port: int = 0  # 0: any free port on loopback
    submit_max_attempts: int = 5
    action_max_attempts: int = 5
    submit_retry_base: float = 1.0  # seconds: a submit's first retry waits up to this, doubling
    action_retry_base: float = 1.0  # seconds: an action's first retry waits up to this, doubling
    db_synchronous: str = "FULL"
    job_deadline: float = 6 * 3600.0  # an unfinished job times out this long after creation
    callback_grace: float = 120.0  # past a provider's expected duration, then reconcile
    status_poll_interval: float = 5.0  # first status poll of a polling provider's job
    status_poll_max: float = 60.0  # the backed-off interval stops growing here
    # Chat destinations (the slack, discord and telegram actions). The URLs and the token are
    # secrets: kept out of repr, logs, action results and error messages.
    slack_webhook_url: str | None = dataclasses.field(default=None, repr=False)
    discord_webhook_url: str | None = dataclasses.field(default=None, repr=False)
    telegram_bot_token: str | None = dataclasses.field(default=None, repr=False)
    telegram_chat_id: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    allow_job_destinations: bool = False  # may a job name its own webhook_url / chat_id?
    chat_template_succeeded: str | None = None  # message templates; None: the built-in ones
    chat_template_failed: str | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "clipwire.db"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = env.get
        try:
            port = int(get("CLIPWIRE_PORT", DEFAULT_PORT))
            sim_port = int(get("CLIPWIRE_SIM_PORT", 0))
        except ValueError:
            raise ConfigError("CLIPWIRE_PORT and CLIPWIRE_SIM_PORT must be whole numbers") from None
        log_format = get("CLIPWIRE_LOG_FORMAT", "auto")
        if log_format not in ("auto", "json", "console"):
            raise ConfigError("CLIPWIRE_LOG_FORMAT must be auto, json or console")
        synchronous = get("CLIPWIRE_DB_SYNCHRONOUS", "FULL").upper()
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigError("CLIPWIRE_DB_SYNCHRONOUS must be FULL or NORMAL")
        return cls(
            data_dir=Path(get("CLIPWIRE_DATA_DIR", "data")),
            host=get("CLIPWIRE_HOST", "127.0.0.1"),
            port=port,
            public_url=get("CLIPWIRE_PUBLIC_URL") or None,
            ngrok_api=get("CLIPWIRE_NGROK_API", "http://127.0.0.1:4040/api"),
            secret_key=get("CLIPWIRE_SECRET_KEY") or None,
            api_token=get("CLIPWIRE_API_TOKEN") or None,
            log_format=log_format,
            log_level=get("CLIPWIRE_LOG_LEVEL", "info").lower(),
            token_max_age=_number(env, "CLIPWIRE_TOKEN_MAX_AGE", 48 * 3600.0),
            mirror_max_bytes=int(_number(env, "CLIPWIRE_MIRROR_MAX_BYTES", 512 * 1024 * 1024)),
            mirror_allow_origins=tuple(
                origin.strip().rstrip("/").lower()
                for origin in get("CLIPWIRE_MIRROR_ALLOW_ORIGINS", "").split(",")
                if origin.strip()
            ),
            max_body_bytes=int(_number(env, "CLIPWIRE_MAX_BODY_BYTES", 1024 * 1024)),
            body_timeout=_number(env, "CLIPWIRE_BODY_TIMEOUT", 10.0),
            webhook_url=get("CLIPWIRE_WEBHOOK_URL") or None,
            webhook_secrets=_webhook_secrets(get("CLIPWIRE_WEBHOOK_SECRET", "")),
            sim_enabled=get("CLIPWIRE_SIM", "1") not in ("0", "false", "no", "off"),
            sim_port=sim_port,
            db_synchronous=synchronous,
            job_deadline=_number(env, "CLIPWIRE_JOB_DEADLINE", 6 * 3600.0),
            callback_grace=_number(env, "CLIPWIRE_CALLBACK_GRACE", 120.0),
            status_poll_interval=_number(env, "CLIPWIRE_STATUS_POLL_INTERVAL", 5.0),
            status_poll_max=_number(env, "CLIPWIRE_STATUS_POLL_MAX", 60.0),
            # chat destinations
            slack_webhook_url=get("CLIPWIRE_SLACK_WEBHOOK_URL") or None,
            discord_webhook_url=get("CLIPWIRE_DISCORD_WEBHOOK_URL") or None,
            telegram_bot_token=get("CLIPWIRE_TELEGRAM_BOT_TOKEN") or None,
            telegram_chat_id=get("CLIPWIRE_TELEGRAM_CHAT_ID") or None,
            telegram_api_base=(
                get("CLIPWIRE_TELEGRAM_API_BASE") or "https://api.telegram.org"
            ).rstrip("/"),
            allow_job_destinations=get("CLIPWIRE_ALLOW_JOB_DESTINATIONS", "0")
            in ("1", "true", "yes", "on"),
            chat_template_succeeded=get("CLIPWIRE_CHAT_TEMPLATE_SUCCEEDED") or None,
            chat_template_failed=get("CLIPWIRE_CHAT_TEMPLATE_FAILED") or None,
        )

    def with_secret(self) -> Settings:
        """These settings with their secrets: the configured ones, or ones persisted in
        data_dir (``secret_key`` signs callback tokens, ``webhook_secret`` signs webhooks)."""
        secret_key = self.secret_key or _persisted(
            self.data_dir / "secret_key", lambda: secrets.token_urlsafe(32)
        )
        path = self.data_dir / "webhook_secret"
        webhook_secrets = self.webhook_secrets or _webhook_secrets(
            _persisted(path, _new_webhook_secret), str(path)
        )
        return dataclasses.replace(self, secret_key=secret_key, webhook_secrets=webhook_secrets)


def _persisted(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path`` (owner-only), made with ``make`` the first time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if not key:
            raise ConfigError(f"{path} is empty; delete it to make a new key") from None
        return key
    key = make()
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


def _new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _webhook_secrets(raw: str, source: str = "CLIPWIRE_WEBHOOK_SECRET") -> tuple[str, ...]:
    """Space-separated ``whsec_<base64>`` secrets; refuse anything the spec would not accept."""
    found = tuple(raw.split())
    for secret in found:
        try:
            key = webhook_key(secret)
        except ValueError:
            key = b""
        if not secret.startswith("whsec_") or not key:
            raise ConfigError(f"{source} must hold whsec_<base64> secrets, space-separated")
    return found


def webhook_key(secret: str) -> bytes:
    """The HMAC key in a ``whsec_<base64>`` secret (padding optional); ValueError if garbled."""
    encoded = secret.removeprefix("whsec_")
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
