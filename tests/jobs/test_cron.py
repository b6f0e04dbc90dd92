"""Cron expressions: parsing errors say which field, fire times follow the documented DST rules."""

from datetime import UTC, datetime

import pytest

from jobs.cron import CronError, cron_next, cron_parse, cron_validate, timezone_get

BERLIN = timezone_get("Europe/Berlin")


def fires(expression: str, zone_name: str, after: datetime, count: int) -> list[str]:
    cron, zone = cron_parse(expression), timezone_get(zone_name)
    out = []
    for _ in range(count):
        nxt = cron_next(cron, zone, after)
        assert nxt is not None
        out.append(nxt.astimezone(zone).isoformat())
        after = nxt
    return out


def test_a_daily_time_in_the_spring_forward_gap_fires_once_at_the_jump() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    assert fires("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), 3) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_every_minute_in_the_skipped_hour_collapses_to_one_fire_at_the_jump() -> None:
    assert fires("* 2 * * *", "Europe/Berlin", datetime(2026, 3, 29, 0, 0, tzinfo=UTC), 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]


def test_a_daily_time_in_the_repeated_fall_back_hour_fires_only_on_its_first_occurrence() -> None:
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    assert fires("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 2) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_an_hourly_schedule_across_fall_back_keeps_utc_order_and_never_repeats() -> None:
    out = fires("0 * * * *", "Europe/Berlin", datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 4)
    assert out == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T04:00:00+01:00",
        "2026-10-25T05:00:00+01:00",
    ]


def test_restricted_day_and_weekday_match_either_like_vixie_cron() -> None:
    # The 1st of the month OR a Friday.
    assert fires("0 9 1 * FRI", "UTC", datetime(2026, 5, 27, tzinfo=UTC), 3) == [
        "2026-05-29T09:00:00+00:00",
        "2026-06-01T09:00:00+00:00",
        "2026-06-05T09:00:00+00:00",
    ]


def test_steps_ranges_lists_and_names_parse() -> None:
    cron = cron_parse("*/20 8-10/2 1,15 JAN-MAR 0")
    assert cron.minutes == frozenset({0, 20, 40})
    assert cron.hours == frozenset({8, 10})
    assert cron.days == frozenset({1, 15})
    assert cron.months == frozenset({1, 2, 3})
    assert cron.weekdays == frozenset({0})
    assert cron_parse("0 0 * * 7").weekdays == frozenset({0})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "5 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 24 * * *", "hour: 24 is outside 0-23"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * 13 *", "month: 13 is outside 1-12"),
        ("* * * * MOO", "weekday: 'MOO' is not a number"),
        ("*/0 * * * *", "minute: step '0' must be a positive number"),
        ("5-1 * * * *", "minute: range 5-1 runs backwards"),
        ("1,,2 * * * *", "minute: empty list item"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_a_bad_expression_is_refused_with_the_field_and_reason(expression: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        cron_validate(expression, "UTC")
    assert message in str(caught.value)


def test_an_unknown_timezone_is_refused() -> None:
    with pytest.raises(CronError, match="'Mars/Olympus' is not an IANA timezone"):
        cron_validate("* * * * *", "Mars/Olympus")
