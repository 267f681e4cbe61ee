"""Settings: a missing or wrong setting is reported in one line that names it.

The environment is emptied of every setting and the working directory is a fresh tmp_path, so no
`.env` of the developer and no variable of the shell decides a result here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = tuple(Settings.model_fields)
TOKEN = "123456:ABC-def_ghi"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message  # one line
    return message


@pytest.mark.parametrize(
    ("env", "named", "says"),
    [
        ({"WEBHOOK_URL": "https://bot.example.org"}, "WEBHOOK_SECRET", "WEBHOOK_URL"),
        ({"COORDINATOR_IDS": "abc"}, "COORDINATOR_IDS", "numbers"),
        ({"COORDINATOR_IDS": "12, x3"}, "COORDINATOR_IDS", "numbers"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN", "@BotFather"),
        ({"BOT_TOKEN": "123456:"}, "BOT_TOKEN", "@BotFather"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS", "1"),
        ({"RETENTION_DAYS": "veel"}, "RETENTION_DAYS", "integer"),
        ({"CONVERSATION_RETENTION_DAYS": "400"}, "CONVERSATION_RETENTION_DAYS", "365"),
        ({"COORDINATOR_CHAT_ID": "de groep"}, "COORDINATOR_CHAT_ID", "integer"),
        ({"DEFAULT_LANGUAGE": "de"}, "DEFAULT_LANGUAGE", "nl"),
        ({"WEBHOOK_PORT": "70000"}, "WEBHOOK_PORT", "65535"),
        ({"TELEGRAM_API_BASE": "ftp://api.example.org"}, "TELEGRAM_API_BASE", "http"),
        ({"WEBHOOK_URL": "bot.example.org"}, "WEBHOOK_URL", "http"),
        (
            {"WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": "met spaties"},
            "WEBHOOK_SECRET",
            "A-Z",
        ),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "INFO"),
    ],
)
def test_a_wrong_setting_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str, says: str
) -> None:
    message = config_error(monkeypatch, **env)
    assert message.startswith(f"Setting {named}:")
    assert says in message


@pytest.mark.parametrize(
    ("name", "value"),
    [("BOT_TOKEN", "geheim-zonder-dubbelepunt"), ("WEBHOOK_SECRET", "geheim met spaties")],
)
def test_a_wrong_secret_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env = {name: value}
    if name == "WEBHOOK_SECRET":
        env["WEBHOOK_URL"] = "https://bot.example.org"
    message = config_error(monkeypatch, **env)
    assert name in message
    assert value not in message
    assert "geheim" not in message


def test_good_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("COORDINATOR_IDS", "11, 22;33")
    monkeypatch.setenv("COORDINATOR_CHAT_ID", "-100123")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/")
    monkeypatch.setenv("WEBHOOK_SECRET", "abc_DEF-123")
    monkeypatch.setenv("RETENTION_DAYS", "30")
    settings = load_settings()
    assert settings.token == TOKEN
    assert frozenset({11, 22, 33}) == settings.COORDINATOR_IDS
    assert settings.is_coordinator_id(22)
    assert not settings.is_coordinator_id(44)
    assert settings.COORDINATOR_CHAT_ID == -100123
    assert settings.WEBHOOK_URL == "https://bot.example.org"
    assert settings.RETENTION_DAYS == 30
    assert TOKEN not in repr(settings)  # secrets stay out of logs


def test_defaults_without_anything_set() -> None:
    settings = load_settings()
    assert settings.BOT_TOKEN is None
    assert frozenset() == settings.COORDINATOR_IDS
    assert settings.DEFAULT_LANGUAGE == "nl"
    with pytest.raises(ConfigError, match="BOT_TOKEN"):
        _ = settings.token


def test_an_env_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nRETENTION_DAYS=90\n", encoding="utf-8")
    settings = load_settings()
    assert settings.token == TOKEN
    assert settings.RETENTION_DAYS == 90


def test_an_empty_token_counts_as_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "")
    assert load_settings().BOT_TOKEN is None


# -- `python -m bot` as a person starts it ----------------------------------------------------


def run_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=clean,
        stdin=subprocess.DEVNULL,  # not a terminal: no question is asked
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.slow  # a process of its own
def test_without_a_token_the_bot_says_how_to_get_one_and_about_the_try_out(
    tmp_path: Path,
) -> None:
    result = run_bot(tmp_path, DATA_DIR=str(tmp_path / "data"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert "@BotFather" in lines[0]
    assert "python -m bot try candidate" in lines[1]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.slow  # a process of its own
def test_a_wrong_setting_stops_the_bot_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("COORDINATOR_IDS", "abc")
    assert main([]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("Setting COORDINATOR_IDS:")
    assert captured.out == ""


# -- SERVICE_CONTACT: required to run the bot, a default for the try-out ---------------------

CONTACT = "Bel 070 123 45 67 (ma-vr 9-17 uur) of mail intake@example.nl"
DEFAULT_CONTACT = Settings.model_fields["SERVICE_CONTACT"].default


@pytest.mark.slow  # a process of its own
@pytest.mark.parametrize(
    "env",
    [
        {},
        {"SERVICE_CONTACT": ""},
        {"SERVICE_CONTACT": "   "},
        {"SERVICE_CONTACT_EN": "Call 070 123 45 67"},  # English alone is not enough
        {"WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": "abc_DEF-123"},
    ],
    ids=["unset", "empty", "blank", "english only", "webhook mode"],
)
def test_the_bot_does_not_start_without_a_service_contact(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = run_bot(tmp_path, BOT_TOKEN=TOKEN, DATA_DIR=str(tmp_path / "data"), **env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Setting SERVICE_CONTACT: required to run the bot")
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_a_service_contact_is_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SERVICE_CONTACT", f"  {CONTACT}  ")
    monkeypatch.setenv("SERVICE_CONTACT_EN", "Call 070 123 45 67 or e-mail intake@example.nl")
    settings = load_settings()
    settings.check_for_telegram()  # nothing missing
    assert settings.SERVICE_CONTACT == CONTACT
    assert settings.SERVICE_CONTACT_EN == "Call 070 123 45 67 or e-mail intake@example.nl"


def test_without_an_english_line_english_speakers_get_the_service_contact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVICE_CONTACT", CONTACT)
    settings = load_settings()
    assert settings.SERVICE_CONTACT_EN == CONTACT  # the number, not the default's dead end


def test_a_missing_service_contact_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings()  # the try-out may still use these settings
    assert settings.SERVICE_CONTACT == DEFAULT_CONTACT
    with pytest.raises(ConfigError) as caught:
        settings.check_for_telegram()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Setting SERVICE_CONTACT:")


@pytest.mark.slow  # a process of its own
def test_the_try_out_keeps_a_default_service_contact(tmp_path: Path) -> None:
    # A token in the environment, but `try`: no contact needed, the default is shown.
    result = run_bot(tmp_path, "try", BOT_TOKEN=TOKEN, DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert DEFAULT_CONTACT in result.stdout
