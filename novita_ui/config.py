"""Settings: argument > environment > default. The only module that reads ``os.environ``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_BASE_URL = "https://api.novita.ai"

ImageEncoding = Literal["auto", "data_uri", "base64"]


def _env_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything tunable about talking to Novita. Build with ``Settings.load(...)``."""

    # repr=False keeps the key out of reprs, logs and tracebacks that print locals.
    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    connect_timeout: float = 10.0
    # Cleanup is synchronous: Novita holds the request while it works, so reads may take a while.
    read_timeout: float = 120.0
    write_timeout: float = 60.0
    # Attempts per HTTP call, the first included.
    max_attempts: int = 4
    # No single wait between retries is longer than this, whatever Retry-After says.
    max_retry_delay: float = 30.0
    backoff_base: float = 0.5
    # A task still running after this many seconds is reported as timed out (with its task id).
    poll_deadline: float = 300.0
    poll_min_interval: float = 0.25
    poll_max_interval: float = 2.0
    # On average at most this many polls per second over any task, whatever Novita's ETA says.
    poll_rate: float = 1.0
    # The longest wait after a failed poll (the task exists and is paid for: keep checking to the deadline).
    poll_backoff_cap: float = 8.0
    # How image-eraser receives images. Novita does not document it; public clients send data URIs. "auto":
    # a data URI first and, if Novita calls the body or image format invalid, bare base64 once (remembered).
    # "data_uri" or "base64" force one form.
    eraser_image_encoding: ImageEncoding = "auto"
    # Attempts to download a result image from the object store.
    download_attempts: int = 4

    # -- image work (issues 13 and 15)
    # Estimated decoded bytes of image work at once (budget.py). 2.5 GB runs two 100 MP photos side by side
    # and keeps a 16 GB machine (a Hugging Face Space on CPU basic) far from swapping.
    memory_budget_mb: int = 2560
    # Send the whole photo (downscaled to fit) instead of a crop around the mask above Novita's limits.
    send_whole_photo: bool = False
    # Spend guard (guard.py): at most this many Novita requests per sliding hour on this key (api_key);
    # requests made with a caller's own key are not counted. None = unlimited.
    max_requests_per_hour: int | None = None
    # Image work in worker processes instead of threads (workers.py). None: the front end decides (app.py
    # uses processes, so a 100 MP photo cannot hold the server's GIL; the CLI threads, which start faster).
    image_processes: bool | None = None

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings: explicit ``overrides`` win over ``env`` (default ``os.environ``), then defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        key = env.get("NOVITA_API_KEY", "").strip()
        if key:
            values["api_key"] = key
        base = env.get("NOVITA_BASE_URL", "").strip()
        if base:
            values["base_url"] = base
        for name, var in (("poll_deadline", "NOVITA_POLL_DEADLINE"), ("read_timeout", "NOVITA_READ_TIMEOUT")):
            number = _env_float(env, var)
            if number is not None:
                values[name] = number
        encoding = env.get("NOVITA_ERASER_IMAGE_ENCODING", "").strip()
        if encoding:
            values["eraser_image_encoding"] = encoding
        values.update(_image_work_env(env))
        cap = _env_float(env, "NOVITA_MAX_REQUESTS_PER_HOUR")
        if cap is not None:
            values["max_requests_per_hour"] = int(cap)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject values that would make the client misbehave."""
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("NOVITA_BASE_URL must start with http:// or https://")
        if self.eraser_image_encoding not in ("auto", "data_uri", "base64"):
            raise ValueError("NOVITA_ERASER_IMAGE_ENCODING must be 'auto', 'data_uri' or 'base64'")
        if self.poll_rate <= 0:
            raise ValueError("poll_rate must be positive")
        if self.max_attempts < 1 or self.download_attempts < 1:
            raise ValueError("attempt counts must be at least 1")
        if self.max_requests_per_hour is not None and self.max_requests_per_hour < 0:
            raise ValueError("the request limit (NOVITA_MAX_REQUESTS_PER_HOUR) cannot be negative")
        if self.memory_budget_mb < 64:
            raise ValueError("the memory budget (NOVITA_UI_MEMORY_BUDGET_MB) must be at least 64 MB")


def _image_work_env(env: Mapping[str, str]) -> dict[str, Any]:
    """NOVITA_UI_MEMORY_BUDGET_MB, NOVITA_UI_SEND_WHOLE_PHOTO and NOVITA_UI_IMAGE_PROCESSES (1/true/yes)."""
    values: dict[str, Any] = {}
    budget = _env_float(env, "NOVITA_UI_MEMORY_BUDGET_MB")
    if budget is not None:
        values["memory_budget_mb"] = int(budget)
    flags = {"send_whole_photo": "NOVITA_UI_SEND_WHOLE_PHOTO", "image_processes": "NOVITA_UI_IMAGE_PROCESSES"}
    for name, var in flags.items():
        raw = env.get(var, "").strip().lower()
        if raw:
            values[name] = raw in ("1", "true", "yes", "on")
    return values


def env_value(name: str, default: str | None = None) -> str | None:
    """One environment lookup for front ends (launch flags with an environment fallback)."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_flag(name: str, default: bool = False) -> bool:
    """An on/off environment variable for front ends: 1/true/yes/on or 0/false/no/off (any case)."""
    raw = (env_value(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0 (true/false), got {raw!r}")
