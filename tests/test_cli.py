"""The command line's contract: one clear line and exit code 2 for user errors, never a traceback."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kolwatch.cli import main
from kolwatch.context import privacy_from
from kolwatch.errors import SettingsError
from kolwatch.settings import load_settings
from tests.conftest import ROOT


def closed_port() -> int:
    """A local port nobody listens on: connections are refused at once, no internet involved."""

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KOLWATCH")}
    return subprocess.run(
        [sys.executable, "-m", "kolwatch", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_shipped_settings_are_valid() -> None:
    settings = load_settings(ROOT / "settings.toml", environ={})
    assert settings.workspaces[0].watches[0].name == "瑞幸"
    assert {s.platform for s in settings.sources} >= {"weibo", "bilibili", "rss", "mastodon", "hotlist"}


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("[database\nurl = 1", ("not valid TOML",)),
        ("[service]\ntick_s = -1", ("service.tick_s", "greater than 0")),
        ('[service]\ndelivery_retry_for = "soon"', ("service.delivery_retry_for", "not a duration")),
        ('[service]\ndelivery_backoff_max = "0s"', ("service.delivery_backoff_max", "positive")),
        ("[database]\nretention_days = 0", ("database.retention_days", "greater than or equal to 1")),
        ("[bogus]\nx = 1", ("bogus", "unknown key")),
        (
            '[[workspaces]]\nname = "a"\ntimezone = "Mars/Olympus"',
            ("workspaces[0].timezone", "unknown timezone"),
        ),
        (
            '[[sources]]\nplatform = "myspace"\nkind = "user"\ntarget = "x"',
            ("sources[0].platform", "myspace"),
        ),
        ('[[sources]]\nplatform = "weibo"\nkind = "feed"\ntarget = "x"', ("sources[0].kind", "feed")),
        (
            '[[sources]]\nplatform = "weibo"\nkind = "user"\ntarget = "1"\nevery = "soon"',
            ("every", "duration"),
        ),
        ("[collectors.weibo]\nrate_per_s = 0", ("collectors.weibo.rate_per_s",)),
        ('[bot]\ntoken = "123:abc"', ("bot.token", "environment")),
        ('[digest]\ndaily_cron = "every day"', ("digest.daily_cron", "crontab")),
        (
            '[[workspaces]]\nname = "a"\n[[workspaces.watches]]\nname = "w"\nquery = "瑞幸 AND (luckin"',
            ("workspaces[0].watches[0].query", "at character"),
        ),
        (
            '[[workspaces]]\nname = "a"\n[[workspaces.watches]]\nname = "w"\nquery = "NOT 星巴克"',
            ("must appear",),
        ),
        ('[alerts.volume]\nz = "high"', ("alerts.volume.z",)),
    ],
)
def test_broken_settings_give_one_line_naming_the_key(
    tmp_path: Path, content: str, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(content, encoding="utf-8")
    assert_one_line_error(run_cli("--settings", str(path), "sources"), *fragments)


def test_missing_settings_file_is_named(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("--settings", str(tmp_path / "nope.toml"), "sources"), "no such settings file"
    )


def test_environment_overrides_and_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[service]\ntick_s = 5\n", encoding="utf-8")
    settings = load_settings(
        path, environ={"KOLWATCH__SERVICE__TICK_S": "2.5", "KOLWATCH__DATABASE__URL": "sqlite://"}
    )
    assert (settings.service.tick_s, settings.database.url) == (2.5, "sqlite://")
    result = run_cli("--settings", str(path), "sources", env={"KOLWATCH__SERVICE__TICK_S": "fast"})
    assert_one_line_error(result, "environment variable KOLWATCH__SERVICE__TICK_S", "service.tick_s")
    assert str(path) not in result.stderr  # the file is fine: the variable is to blame
    result = run_cli("--settings", str(path), "sources", env={"KOLWATCH__BOT__TOKEN": "123:abc"})
    assert_one_line_error(result, "KOLWATCH__BOT__TOKEN", "secrets")


def test_unknown_command_and_bad_arguments() -> None:
    assert_one_line_error(run_cli("frobnicate"), "invalid choice", "frobnicate")
    assert_one_line_error(run_cli("export", "--format", "xml"), "--format")
    assert main(["export", "--format", "xml"]) == 2


def test_unreachable_database_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    port = closed_port()
    path.write_text(
        f'[database]\nurl = "postgresql+psycopg://kw:secretpw@127.0.0.1:{port}/kw"\n', encoding="utf-8"
    )
    result = run_cli("--settings", str(path), "run", "--once")
    assert_one_line_error(result, "cannot open database", f"127.0.0.1:{port}")
    assert "secretpw" not in result.stderr
    path.write_text('[database]\nurl = "nonsense://"\n', encoding="utf-8")
    assert_one_line_error(run_cli("--settings", str(path), "sources"), "database")


def test_run_once_with_shipped_settings_offline_records_every_failure(tmp_path: Path) -> None:
    """The shipped settings.toml with every platform unreachable: exit 0, a readable summary,
    each source's failure recorded as health. The hosts are pointed at a closed local port so the
    test never touches the internet, exactly as an offline machine would see them."""

    dead = f"http://127.0.0.1:{closed_port()}"
    db_file = tmp_path / "kw.db"
    env = {
        "KOLWATCH__DATABASE__URL": f"sqlite:///{db_file}",
        "KOLWATCH__SERVICE__ALERTS_DIR": str(tmp_path / "alerts"),
        "KOLWATCH__COLLECTORS__WEIBO__BASE_URL": dead,
        "KOLWATCH__COLLECTORS__WEIBO__RETRIES": "0",
        "KOLWATCH__COLLECTORS__BILIBILI__BASE_URL": dead,
        "KOLWATCH__COLLECTORS__BILIBILI__RETRIES": "0",
        "KOLWATCH__COLLECTORS__RSS__BASE_URL": dead,
        "KOLWATCH__COLLECTORS__RSS__RETRIES": "0",
        "KOLWATCH__COLLECTORS__MASTODON__BASE_URL": dead,
        "KOLWATCH__COLLECTORS__MASTODON__RETRIES": "0",
        "KOLWATCH__COLLECTORS__HOTLIST__WEIBO_URL": f"{dead}/ajax/side/hotSearch",
        "KOLWATCH__COLLECTORS__HOTLIST__RETRIES": "0",
    }
    result = run_cli("--settings", str(ROOT / "settings.toml"), "run", "--once", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "sources: 5 (0 ok, 5 failing)" in result.stdout
    assert "running without the Telegram bot" in result.stderr
    with sqlite3.connect(db_file) as conn:
        health = dict(conn.execute("SELECT platform, health FROM source").fetchall())
    assert health == {p: "network" for p in ("weibo", "bilibili", "hotlist", "rss", "mastodon")}
    listing = run_cli("--settings", str(ROOT / "settings.toml"), "sources", env=env, cwd=tmp_path)
    assert listing.returncode == 0 and listing.stdout.count("network") == 5


def assert_main_one_line_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], *fragments: str
) -> str:
    """`main(argv)` in this process: exit code 2, exactly one stderr line holding the fragments."""

    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def no_kolwatch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KOLWATCH"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("sqlite:////proc/nope/x.db", ("/proc/nope", "cannot create the folder")),
        ("sqlite:///{tmp}/a_file/x.db", ("a_file", "not a folder")),
        ("sqlite:///{tmp}/not_a_db.db", ("not_a_db.db", "not a database")),
        ("mysql://kw:secretpw@127.0.0.1/kw", ("mysql://kw:***@127.0.0.1/kw", "driver is not installed")),
    ],
)
def test_unusable_database_urls_give_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_kolwatch_env: None,
    url: str,
    fragments: tuple[str, ...],
) -> None:
    (tmp_path / "a_file").write_text("I am a file, not a folder\n", encoding="utf-8")
    (tmp_path / "not_a_db.db").write_text("plain text, not SQLite\n" * 100, encoding="utf-8")
    path = tmp_path / "settings.toml"
    path.write_text(f'[database]\nurl = "{url.format(tmp=tmp_path)}"\n', encoding="utf-8")
    line = assert_main_one_line_error(capsys, ["--settings", str(path), "sources"], *fragments)
    assert "secretpw" not in line


def _settings_with_workspace(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "kw.db"}"\n'
        '[[workspaces]]\nname = "acme"\n[[workspaces.watches]]\nname = "鹿角"\nquery = "鹿角"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["demo", "--out", "/proc/nope"], ("--out /proc/nope", "cannot create the folder")),
        (["export", "--out", "/proc/nope/x.csv"], ("--out /proc/nope/x.csv", "cannot write")),
        (["export", "--out", "{tmp}"], ("is a folder",)),
        (["digest", "--period", "day", "--out", "/proc/nope"], ("--out /proc/nope", "cannot create")),
        (["digest", "--period", "day", "--out", "{tmp}/a_file"], ("a_file", "not a folder")),
    ],
)
def test_unwritable_output_paths_give_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_kolwatch_env: None,
    argv: list[str],
    fragments: tuple[str, ...],
) -> None:
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    settings = _settings_with_workspace(tmp_path)
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert_main_one_line_error(capsys, ["--settings", str(settings), *argv], *fragments)


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("KOLWATCH__SERVICE__TICK_S", "abc", "service.tick_s"),
        ("KOLWATCH__SERVICE__NOPE", "1", "service.nope"),
        ("KOLWATCH__COLLECTORS__WEIBO__RATE_PER_S", "0", "collectors.weibo.rate_per_s"),
        ("KOLWATCH__SCORING__WINDOW_DAYS", "soon", "scoring.window_days"),
        ("KOLWATCH__ALERTS__VOLUME__Z", "high", "alerts.volume.z"),
    ],
)
def test_a_bad_environment_override_names_the_variable_not_the_file(
    tmp_path: Path, variable: str, value: str, key: str
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[service]\ntick_s = 5\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={variable: value})
    assert str(caught.value).startswith(f"environment variable {variable}: {key}: ")
    assert str(path) not in str(caught.value)


def test_a_bad_key_in_the_file_still_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[service]\ntick_s = "abc"\n[alerts.volume]\nz = 3\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^.*settings\.toml: service\.tick_s: "):
        load_settings(path, environ={"KOLWATCH__SERVICE__LEASE_S": "60"})
    path.write_text('[alerts.volume]\nz = "high"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^.*settings\.toml: alerts\.volume\.z: "):
        load_settings(path, environ={"KOLWATCH__ALERTS__VOLUME__MIN_COUNT": "5"})


def test_run_without_a_settings_file_is_an_error_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_kolwatch_env: None
) -> None:
    monkeypatch.chdir(tmp_path)
    line = assert_main_one_line_error(
        capsys, ["run", "--once"], str(tmp_path / "settings.toml"), "--settings", "KOLWATCH_SETTINGS"
    )
    assert "/dev/null" in line  # how to ask for the built-in defaults on purpose
    assert not (tmp_path / "data").exists()  # stopped before opening the default database


def test_other_commands_without_a_settings_file_say_they_use_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_kolwatch_env: None
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sources"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "built-in defaults" in err[0] and str(tmp_path / "settings.toml") in err[0]
    # Asking for the defaults explicitly is quiet.
    assert main(["--settings", os.devnull, "sources"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("KOLWATCH_SETTINGS", os.devnull)
    assert main(["sources"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", [["run", "--once"], ["db", "pseudonymise"]])
def test_pseudonymising_without_a_salt_is_a_start_up_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_kolwatch_env: None,
    command: list[str],
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "kw.db"}"\npseudonymise_below = 1000\n', encoding="utf-8"
    )
    monkeypatch.setenv("KOLWATCH_PSEUDONYM_SALT", "   ")  # blank counts as missing
    assert_main_one_line_error(
        capsys, ["--settings", str(path), *command], "KOLWATCH_PSEUDONYM_SALT", "pseudonymise_below"
    )
    assert not (tmp_path / "kw.db").exists()  # stopped before touching the database


def test_privacy_from_uses_the_salt() -> None:
    settings = load_settings(os.devnull, environ={"KOLWATCH__DATABASE__PSEUDONYMISE_BELOW": "1000"})
    privacy = privacy_from(settings, {"KOLWATCH_PSEUDONYM_SALT": "pepper"})
    assert (privacy.pseudonymise_below, privacy.salt) == (1000, "pepper")
    off = load_settings(os.devnull, environ={})
    assert privacy_from(off, {}).pseudonymise_below is None  # off: no salt needed


def test_db_purge_needs_an_age(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_kolwatch_env: None
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "kw.db"}"\n', encoding="utf-8")
    argv = ["--settings", str(path), "db", "purge"]
    assert_main_one_line_error(capsys, argv, "--older-than", "retention_days")
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "kw.db"}"\nretention_days = 30\n', encoding="utf-8"
    )
    assert main(argv) == 0
    assert "purged before" in capsys.readouterr().out
