"""settings.toml + environment overrides, validated at start-up with errors that name the key.

Precedence: built-in defaults < settings.toml (path from --settings, $KOLWATCH_SETTINGS or
./settings.toml) < environment `KOLWATCH__SECTION__KEY=value` (value read as a TOML value when it
parses as one, else as a string). Secrets are never read from the file: the bot token, cookies and
webhook keys come only from their own environment variables (see `Secrets`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from kolwatch.errors import SettingsError

if TYPE_CHECKING:
    from scoring.settings import ScoringSettings

ENV_PREFIX = "KOLWATCH__"
SETTINGS_ENV = "KOLWATCH_SETTINGS"
SECRET_KEYS = {"token", "bot_token", "cookie", "cookies", "secret", "webhook", "password", "key"}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | int | float) -> timedelta:
    """ "10m", "2h", "30s", "7d", "1w" or a number of seconds."""

    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h, 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return timedelta(seconds=seconds)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///data/kolwatch.db"
    # PIPL/GDPR: accounts with fewer followers are stored with a hashed id and no name. 0 = off.
    pseudonymise_below: int = Field(default=0, ge=0)
    # Posts older than this many days are deleted daily by the service (and by `kolwatch db purge`
    # without --older-than); unset = keep everything.
    retention_days: int | None = Field(default=None, ge=1)


class ServiceSettings(_Section):
    tick_s: float = Field(default=5.0, gt=0)
    lease_s: float = Field(default=600.0, gt=0)
    sources_per_tick: int = Field(default=4, ge=1)
    alerts_every_s: float = Field(default=60.0, gt=0)
    outbox_every_s: float = Field(default=5.0, gt=0)
    kol_every_s: float = Field(default=3600.0, gt=0)
    analyze_batch: int = Field(default=200, ge=1)
    # Transient delivery failures (429, 5xx, timeouts, network) are retried with backoff capped at
    # delivery_backoff_max until delivery_retry_for after the alert; 0 attempts = no extra limit.
    delivery_retry_for: str = "7d"
    delivery_backoff_max: str = "30m"
    max_delivery_attempts: int = Field(default=0, ge=0)
    alerts_dir: str = "data/alerts"  # where the "file" channel writes alerts as JSON lines

    @field_validator("delivery_retry_for", "delivery_backoff_max")
    @classmethod
    def _delivery_duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class BotSettings(_Section):
    api_base: str = "https://api.telegram.org"
    enabled: bool = True
    rate_limit_per_minute: int = Field(default=6, ge=1)  # expensive commands per user


class NlpSettings(_Section):
    sentiment_model: str = ""  # path to a model trained by `kolwatch sentiment train`; "" = stock
    near_duplicate_threshold: float = Field(default=0.7, gt=0, le=1)  # measured in bench_nlp


class DigestSettings(_Section):
    daily_cron: str = "0 9 * * *"
    weekly_cron: str = "0 9 * * 1"
    out_dir: str = "data/digests"

    @field_validator("daily_cron", "weekly_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from kolwatch.scheduler import crontab_trigger  # the translation the scheduler uses

        try:
            crontab_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a crontab expression {value!r}: {exc}") from None
        return value


class WatchSettings(_Section):
    name: str = Field(min_length=1, max_length=64)
    query: str = Field(min_length=1, max_length=4000)
    competitors: tuple[str, ...] = ()
    detectors: dict[str, Any] = Field(default_factory=dict)


class WorkspaceSettings(_Section):
    name: str = Field(min_length=1, max_length=64)
    chats: tuple[int, ...] = ()
    admins: tuple[int, ...] = ()
    timezone: str = "Asia/Shanghai"
    # Extra alert channels: "console", "file", "wecom:<name>", "dingtalk:<name>", "feishu:<name>";
    # robots' keys come from the environment (see kolwatch/notifiers.py).
    channels: tuple[str, ...] = ("console",)
    watches: tuple[WatchSettings, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for channel in value:
            kind, _, name = channel.partition(":")
            if kind not in ("console", "file", "telegram", "wecom", "dingtalk", "feishu"):
                raise ValueError(f"unknown channel {channel!r}")
            if kind in ("wecom", "dingtalk", "feishu") and not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(f"channel {channel!r} needs a name: {kind}:<name> (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _unique_watch_names(self) -> WorkspaceSettings:
        names = [w.name for w in self.watches]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"watch names repeat: {', '.join(dupes)}")
        return self


class SourceSettings(_Section):
    workspace: str | None = None
    platform: str
    kind: str
    target: str = Field(min_length=1)
    every: str = "10m"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def every_s(self) -> int:
        return max(1, int(parse_duration(self.every).total_seconds()))


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    service: ServiceSettings = ServiceSettings()
    bot: BotSettings = BotSettings()
    nlp: NlpSettings = NlpSettings()
    digest: DigestSettings = DigestSettings()
    scoring: dict[str, Any] = Field(default_factory=dict)
    alerts: dict[str, Any] = Field(default_factory=dict)
    collectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    workspaces: tuple[WorkspaceSettings, ...] = ()
    sources: tuple[SourceSettings, ...] = ()
    path: str = ""  # where the settings came from, for messages
    # key path -> the KOLWATCH__... variable that set it, so errors blame the variable, not the file
    _overrides: dict[tuple[str, ...], str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        names = [w.name for w in self.workspaces]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"workspace names repeat: {', '.join(dupes)}")
        for index, source in enumerate(self.sources):
            if source.workspace is not None and source.workspace not in names:
                raise ValueError(f"sources[{index}].workspace: no workspace named {source.workspace!r}")
        return self

    def where(self, *loc: str | int) -> str:
        """Who set the key at `loc`: the environment variable that overrode it, else the file."""

        return _origin(self.path, self._overrides, loc)


class Secrets:
    """Secrets from the environment only; their values never appear in repr or logs."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = dict(os.environ if environ is None else environ)

    def get(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    @property
    def bot_token(self) -> str | None:
        return self.get("KOLWATCH_BOT_TOKEN")

    def __repr__(self) -> str:
        present = sorted(k for k in self._env if k.startswith("KOLWATCH_") and not k.startswith(ENV_PREFIX))
        return f"Secrets(present={present})"


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(
    data: dict[str, Any], environ: Mapping[str, str], overrides: dict[tuple[str, ...], str] | None = None
) -> dict[str, Any]:
    """Apply KOLWATCH__SECTION__KEY variables to `data`; `overrides` records which variable set
    which key path."""

    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        if path[-1] in SECRET_KEYS:
            raise SettingsError(
                f"{name}: secrets are not settings; use KOLWATCH_BOT_TOKEN, KOLWATCH_<PLATFORM>_COOKIE "
                "or the robot variables named in settings.toml"
            )
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = _parse_env_value(raw)
        if overrides is not None:
            overrides[tuple(path)] = name
    return data


def _check_no_secrets(data: Any, where: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{where}.{key}" if where else str(key)
            if str(key).lower() in SECRET_KEYS and value not in ("", None):
                raise SettingsError(
                    f"{here}: secrets must not be written in settings files; set them in the environment"
                )
            _check_no_secrets(value, here)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _check_no_secrets(value, f"{where}[{index}]")


def _origin(file: str, overrides: Mapping[tuple[str, ...], str], loc: tuple[Any, ...]) -> str:
    keys = tuple(str(part).lower() for part in loc)
    for end in range(len(keys), 0, -1):
        name = overrides.get(keys[:end])
        if name is not None:
            return f"environment variable {name}"
    return file


def _format_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _first(exc: ValidationError) -> tuple[tuple[Any, ...], str]:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return loc, f"{msg}{more}"


def first_error(exc: ValidationError) -> str:
    """"dotted.location: message" of a validation error, for one-line settings errors."""

    loc, msg = _first(exc)
    return f"{_format_location(loc)}: {msg}"


def settings_error(settings: Settings, prefix: tuple[str | int, ...], exc: ValidationError) -> SettingsError:
    """One-line error for a section validated by its own model (`prefix` is where it sits): names
    the file, or the environment variable when the key came from one, then the key."""

    return _located_error(settings.path, settings._overrides, prefix, exc)


def _located_error(
    file: str, overrides: Mapping[tuple[str, ...], str], prefix: tuple[Any, ...], exc: ValidationError
) -> SettingsError:
    loc, msg = _first(exc)
    full = (*prefix, *loc)
    return SettingsError(f"{_origin(file, overrides, full)}: {_format_location(full)}: {msg}")


def settings_path(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(explicit or env.get(SETTINGS_ENV) or "settings.toml")


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, override and validate; any problem raises SettingsError naming the file and key."""

    env = os.environ if environ is None else environ
    file = settings_path(str(path) if path else None, env)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{file}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{file}: cannot read: {exc}") from None
    elif path is not None or env.get(SETTINGS_ENV):
        raise SettingsError(f"{file}: no such settings file")
    _check_no_secrets(data)
    overrides: dict[tuple[str, ...], str] = {}
    data = _apply_env(data, env, overrides)
    data["path"] = str(file)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise _located_error(str(file), overrides, (), exc) from None
    settings._overrides = overrides
    validate_plugins(settings)
    return settings


def validate_plugins(settings: Settings) -> None:
    """Check the sections owned by plugins against their own models (collectors, sources, scoring)."""

    from collectors import COLLECTORS  # the explicit registry

    scoring_settings(settings)
    for name, section in settings.collectors.items():
        cls = COLLECTORS.get(name)
        if cls is None:
            raise SettingsError(
                f"{settings.where('collectors', name)}: collectors.{name}: unknown collector "
                f"(known: {', '.join(COLLECTORS)})"
            )
        try:
            cls.Settings.model_validate(section)
        except ValidationError as exc:
            raise settings_error(settings, ("collectors", name), exc) from None
    for index, source in enumerate(settings.sources):
        cls = COLLECTORS.get(source.platform)
        if cls is None:
            raise SettingsError(
                f"{settings.where('sources', index, 'platform')}: sources[{index}].platform: "
                f"unknown platform {source.platform!r} "
                f"(known: {', '.join(COLLECTORS)})"
            )
        if source.kind not in cls.kinds:
            raise SettingsError(
                f"{settings.where('sources', index, 'kind')}: sources[{index}].kind: "
                f"{source.platform} has no kind {source.kind!r} "
                f"(known: {', '.join(sorted(cls.kinds))})"
            )
    validate_watches(settings)


def validate_watches(settings: Settings) -> None:
    """Every watch query parses and names a term that must appear; `[alerts]` and each watch's
    detector overrides fit the detectors' settings. Errors point at the watch and the position."""

    from kolwatch.jobs import alert_config, watch_settings
    from nlp.matcher import fold
    from nlp.query import QuerySyntaxError, anchored, parse, phrase

    config = alert_config(settings)
    platforms = known_platforms(settings)
    for wi, ws in enumerate(settings.workspaces):
        for j, watch in enumerate(ws.watches):
            where = f"{settings.where('workspaces', wi, 'watches', j)}: workspaces[{wi}].watches[{j}]"
            try:
                query = parse(watch.query, platforms=platforms)
            except QuerySyntaxError as exc:
                raise SettingsError(f"{where}.query ({watch.name}): {exc.one_line()}") from None
            if not anchored(query):
                raise SettingsError(
                    f"{where}.query ({watch.name}): needs a term that must appear (NOT or filters alone "
                    "would match almost every post)"
                )
            seen: dict[str, str] = {}
            for k, competitor in enumerate(watch.competitors):
                try:
                    folded = fold(phrase(competitor).text)
                except QuerySyntaxError as exc:
                    raise SettingsError(
                        f"{where}.competitors[{k}] ({watch.name}): {exc.message}: {competitor!r}"
                    ) from None
                if folded in seen:
                    raise SettingsError(
                        f"{where}.competitors[{k}] ({watch.name}): {competitor!r} is the same name as "
                        f"{seen[folded]!r}"
                    )
                seen[folded] = competitor
            try:
                watch_settings(config, watch.detectors)
            except ValueError as exc:
                raise SettingsError(f"{where}.detectors.{exc}") from None


def known_platforms(settings: Settings) -> frozenset[str]:
    """The platform names posts can carry, for `platform:` in queries: every collector's, the
    platforms RSSHub routes map to (xiaohongshu, douyin, ...) and RSS sources' `platform` option."""

    from collectors import COLLECTORS
    from collectors.rss import RSSHUB_PLATFORMS

    names = set(COLLECTORS) | set(RSSHUB_PLATFORMS.values())
    for source in settings.sources:
        override = source.options.get("platform")
        if isinstance(override, str) and override.strip():
            names.add(override.strip())
    return frozenset(names)


def scoring_settings(settings: Settings) -> ScoringSettings:
    """The `[scoring]` section validated by scoring's own model; SettingsError names the key."""

    from scoring.settings import ScoringSettings

    try:
        return ScoringSettings.model_validate(settings.scoring)
    except ValidationError as exc:
        raise settings_error(settings, ("scoring",), exc) from None


def collector_settings(settings: Settings, platform: str) -> Any:
    from collectors import COLLECTORS

    cls = COLLECTORS[platform]
    return cls.Settings.model_validate(settings.collectors.get(platform, {}))
