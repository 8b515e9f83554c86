"""When the scheduled digests fire: crontab day-of-week numbers (0 and 7 = Sunday) in each
workspace's timezone, through the scheduler the service builds, and bad lines as settings errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from kolwatch.errors import SettingsError
from kolwatch.scheduler import build_scheduler, cron_days_of_week, crontab_trigger
from kolwatch.settings import Settings, load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Sunday 2026-03-08 12:00 in Shanghai: the next Monday is 03-09, the next Sunday 03-15.
FROM = datetime(2026, 3, 8, 12, 0, tzinfo=SHANGHAI)


def next_fires(expr: str, tz: str = "Asia/Shanghai", count: int = 3) -> list[datetime]:
    trigger = crontab_trigger(expr, tz)
    out: list[datetime] = []
    previous = None
    now = FROM
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        out.append(fire)
        previous, now = fire, fire
    return out


def local(fires: list[datetime], tz: str = "Asia/Shanghai") -> list[str]:
    return [f.astimezone(ZoneInfo(tz)).strftime("%a %m-%d %H:%M") for f in fires]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("0 9 * * 1", ["Mon 03-09 09:00", "Mon 03-16 09:00", "Mon 03-23 09:00"]),
        ("0 9 * * 0", ["Sun 03-15 09:00", "Sun 03-22 09:00", "Sun 03-29 09:00"]),
        ("0 9 * * 7", ["Sun 03-15 09:00", "Sun 03-22 09:00", "Sun 03-29 09:00"]),
        ("0 9 * * 1-5", ["Mon 03-09 09:00", "Tue 03-10 09:00", "Wed 03-11 09:00"]),
        ("30 8 * * sun", ["Sun 03-15 08:30", "Sun 03-22 08:30", "Sun 03-29 08:30"]),
        ("0 9 * * SAT,Sun", ["Sat 03-14 09:00", "Sun 03-15 09:00", "Sat 03-21 09:00"]),
        ("0 9 * * 5-7", ["Fri 03-13 09:00", "Sat 03-14 09:00", "Sun 03-15 09:00"]),
        ("0 9 * * */2", ["Tue 03-10 09:00", "Thu 03-12 09:00", "Sat 03-14 09:00"]),
        ("0 9 * * mon-fri/2", ["Mon 03-09 09:00", "Wed 03-11 09:00", "Fri 03-13 09:00"]),
        ("0 9 * * *", ["Mon 03-09 09:00", "Tue 03-10 09:00", "Wed 03-11 09:00"]),
    ],
)
def test_crontab_days_of_week_fire_on_the_crontab_day(expr: str, expected: list[str]) -> None:
    assert local(next_fires(expr)) == expected


def test_day_of_week_translation() -> None:
    assert cron_days_of_week("1") == "mon"
    assert cron_days_of_week("0") == cron_days_of_week("7") == cron_days_of_week("SUN") == "sun"
    assert cron_days_of_week("1-5") == "mon,tue,wed,thu,fri"
    assert cron_days_of_week("0-6") == cron_days_of_week("mon-sun") == "*"
    assert cron_days_of_week("6,0") == "sat,sun"


@pytest.mark.parametrize("field", ["8", "x", "fri-mon", "1-", "1/0", "mon;tue", ""])
def test_bad_day_of_week_is_refused(field: str) -> None:
    with pytest.raises(ValueError):
        cron_days_of_week(field)


def test_scheduler_jobs_fire_monday_nine_in_each_workspace_zone() -> None:
    settings = Settings.model_validate(
        {
            "workspaces": [
                {"name": "sh", "timezone": "Asia/Shanghai"},
                {"name": "ny", "timezone": "America/New_York"},
            ]
        }
    )
    assert settings.digest.weekly_cron == "0 9 * * 1"  # the shipped default: Monday 09:00
    ticks = ("collect_tick", "alerts_tick", "outbox_tick", "kol_tick", "retention_tick")
    service = SimpleNamespace(settings=settings, **dict.fromkeys(ticks))
    scheduler = build_scheduler(service)  # type: ignore[arg-type]
    now = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)  # Sunday
    fires = {
        job.id: job.trigger.get_next_fire_time(None, now)
        for job in scheduler.get_jobs()
        if job.id.startswith("digest:")
    }
    assert fires["digest:sh:week"] == datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)
    assert fires["digest:sh:week"].astimezone(UTC) == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    ny = ZoneInfo("America/New_York")
    assert fires["digest:ny:week"] == datetime(2026, 3, 9, 9, 0, tzinfo=ny)  # the day after DST starts
    assert fires["digest:sh:day"] == datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)


def test_the_shipped_settings_file_sends_the_weekly_digest_on_monday() -> None:
    settings = load_settings(Path(__file__).parents[2] / "settings.toml", environ={})
    (fire,) = next_fires(settings.digest.weekly_cron, count=1)
    assert fire.astimezone(SHANGHAI).weekday() == 0


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("0 9 * * 8", "0-7"),
        ("0 9 * *", "5 fields"),
        ("0 25 * * 1", "hour"),
        ("0 9 1 * 1", "either matches"),
        ("0 9 * * someday", "someday"),
    ],
)
def test_bad_crontab_line_is_a_settings_error_naming_the_key(
    tmp_path: Path, line: str, fragment: str
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(f'[digest]\nweekly_cron = "{line}"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert "digest.weekly_cron" in message and "crontab" in message and fragment in message, message


def test_sunday_as_seven_is_accepted_by_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[digest]\nweekly_cron = "0 9 * * 7"\n', encoding="utf-8")
    assert load_settings(path, environ={}).digest.weekly_cron == "0 9 * * 7"
