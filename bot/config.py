"""Settings, read once from the environment (and an optional `.env`) and validated at start.

pydantic-settings does the parsing (it ships beside aiogram's own pydantic), so each setting is
typed and a wrong one is reported with its name instead of failing somewhere later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.sender import Limits


class ConfigError(Exception):
    """A missing or wrong setting; the message is one line that names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    BOT_TOKEN: SecretStr | None = None
    TELEGRAM_API_BASE: str | None = None
    COORDINATOR_CHAT_ID: int | None = None
    COORDINATOR_IDS: Annotated[frozenset[int], NoDecode] = frozenset()
    # "list": only COORDINATOR_IDS are coordinators. "group": every member of the coordinators'
    # group is one too (membership is managed in Telegram, not audited: see the README).
    COORDINATOR_ACCESS: Literal["list", "group"] = "list"
    DATA_DIR: Path = Path("./data")
    DEFAULT_LANGUAGE: Literal["nl", "en"] = "nl"
    # The longest an intake is kept, counted from when it was sent; only with the person's
    # consent (asked at the end) is a closed intake kept that long.
    RETENTION_DAYS: int = Field(default=365, ge=1, le=3650)
    # Without that consent a closed intake is deleted this many days after it was closed.
    RETENTION_AFTER_CLOSE_DAYS: int = Field(default=28, ge=1, le=3650)
    # Within how many working days a coordinator contacts a person (said at the end).
    CONTACT_WITHIN_WORKING_DAYS: int = Field(default=5, ge=1, le=60)
    CONVERSATION_RETENTION_DAYS: int = Field(default=30, ge=1, le=365)
    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET: SecretStr | None = None
    WEBHOOK_HOST: str = "127.0.0.1"
    WEBHOOK_PORT: int = Field(default=8080, ge=1, le=65535)
    # How to reach a person without Telegram; shown in the privacy notice and on every "human".
    # The defaults are for the try-out only: a bot with a token refuses to start without a
    # SERVICE_CONTACT of its own (check_for_telegram), since they name no number.
    SERVICE_CONTACT: str = "Bel of mail het intakebureau. Het nummer staat op de website."
    SERVICE_CONTACT_EN: str = "Call or e-mail the intake office. The number is on the website."
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The sender's limits (docs/sending.md): a little under Telegram's published figures.
    SEND_PER_SECOND: float = Field(default=25.0, gt=0, le=1000)
    SEND_PER_CHAT_PER_SECOND: float = Field(default=1.0, gt=0, le=100)
    SEND_CHAT_BURST: int = Field(default=2, ge=1, le=100)
    SEND_GROUP_PER_MINUTE: int = Field(default=19, ge=1, le=10000)

    @field_validator("COORDINATOR_IDS", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
            if not all(part.lstrip("-").isdigit() for part in parts):
                raise ValueError("use Telegram user ids (numbers) separated by commas")
            return frozenset(int(part) for part in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("BOT_TOKEN", mode="before")
    @classmethod
    def _empty_token(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("TELEGRAM_API_BASE", "WEBHOOK_URL", mode="before")
    @classmethod
    def _url(cls, value: object) -> object:
        if value in ("", None):
            return None
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("BOT_TOKEN")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            bot_id, _, secret = value.get_secret_value().partition(":")
            if not bot_id.isdigit() or not secret:
                raise ValueError(
                    "looks wrong: a token from @BotFather looks like 123456:ABC-DEF..."
                )
        return value

    @model_validator(mode="after")
    def _group_access_needs_the_group(self) -> Settings:
        if self.COORDINATOR_ACCESS == "group" and self.COORDINATOR_CHAT_ID is None:
            raise ValueError("COORDINATOR_ACCESS: group needs COORDINATOR_CHAT_ID")
        return self

    @field_validator("SERVICE_CONTACT", "SERVICE_CONTACT_EN", mode="before")
    @classmethod
    def _blank_contact(cls, value: object, info: ValidationInfo) -> object:
        # A blank line counts as not set: the try-out's default, and refused by a real bot.
        if isinstance(value, str) and not value.strip():
            assert info.field_name is not None
            return cls.model_fields[info.field_name].default
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _english_contact_falls_back(self) -> Settings:
        # The phone number or e-mail address is the same in English: without a line of its own,
        # English speakers get the Dutch one rather than the default that names no number.
        if not self._contact_is_set("SERVICE_CONTACT_EN") and self._contact_is_set(
            "SERVICE_CONTACT"
        ):
            self.SERVICE_CONTACT_EN = self.SERVICE_CONTACT
        return self

    def _contact_is_set(self, name: str) -> bool:
        return bool(getattr(self, name) != type(self).model_fields[name].default)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.WEBHOOK_URL and not self.WEBHOOK_SECRET:
            raise ValueError("WEBHOOK_SECRET: required when WEBHOOK_URL is set")
        if self.WEBHOOK_SECRET is not None:
            secret = self.WEBHOOK_SECRET.get_secret_value()
            allowed = all(c.isalnum() or c in "_-" for c in secret)
            if not (1 <= len(secret) <= 256 and allowed):
                raise ValueError("WEBHOOK_SECRET: use 1-256 characters A-Z, a-z, 0-9, _ and -")
        return self

    @property
    def token(self) -> str:
        if self.BOT_TOKEN is None:
            raise ConfigError("BOT_TOKEN is not set")
        return self.BOT_TOKEN.get_secret_value()

    def check_for_telegram(self) -> None:
        """The settings a bot that talks to Telegram needs beyond those of the try-out; raise
        ConfigError naming the first one missing."""
        if not self._contact_is_set("SERVICE_CONTACT"):
            raise ConfigError(
                "Setting SERVICE_CONTACT: required to run the bot: how people reach a person "
                "without Telegram (phone, e-mail or address), e.g. "
                'SERVICE_CONTACT="Bel 070 123 45 67 (ma-vr 9-17 uur) of mail intake@example.nl"'
            )

    def send_limits(self) -> Limits:
        return Limits(
            global_per_second=self.SEND_PER_SECOND,
            chat_per_second=self.SEND_PER_CHAT_PER_SECOND,
            chat_burst=self.SEND_CHAT_BURST,
            group_per_minute=self.SEND_GROUP_PER_MINUTE,
        )

    def is_coordinator_id(self, user_id: int) -> bool:
        return user_id in self.COORDINATOR_IDS


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise ConfigError with one line naming the wrong setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
        message = str(first["msg"]).removeprefix("Value error, ")
        if not name:
            # A rule across settings names its setting at the start of the message.
            name, _, message = message.partition(": ")
            raise ConfigError(f"Setting {name}: {message}") from None
        raise ConfigError(f"Setting {name}: {message} (got {_shown(first)})") from None


def _shown(error: object) -> str:
    # Never echo a secret back: only say whether something was given.
    if isinstance(error, dict):
        loc = error.get("loc", ())
        if any(str(p) in ("BOT_TOKEN", "WEBHOOK_SECRET") for p in loc):
            return "a value that is hidden"
        value = error.get("input")
        if isinstance(value, str | int):
            return repr(value)[:60]
    return "a wrong value"
