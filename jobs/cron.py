"""Five-field cron expressions and their fire times in an IANA timezone.

`minute hour day-of-month month day-of-week`, each field `*`, a number, a range `a-b`, a
list `a,b`, a step `*/n` or `a-b/n`; months and weekdays also by name (`JAN`, `MON`);
weekday 0 and 7 are Sunday. As in Vixie cron, when both day fields are restricted a day
matches if either does.

Fire times are wall-clock times in the schedule's timezone, turned into instants by these
rules across daylight-saving changes (tested on Europe/Berlin):
- a wall time that does not exist that day (clocks jump forward over it) fires once, at the
  instant of the jump;
- a wall time that happens twice (clocks go back) fires once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {name: i for i, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}  # noqa: SIM905
WEEKDAYS = {name: i for i, name in enumerate("SUN MON TUE WED THU FRI SAT".split())}  # noqa: SIM905
# How far ahead a fire time is searched: covers Feb 29 on a Monday (once in 28 years is too
# rare to schedule; such expressions are refused as never firing).
SEARCH_DAYS = 366 * 8


class CronError(ValueError):
    """The expression or timezone is not valid; the message says which part and why."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays


def _value(text: str, names: dict[str, int], field: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not (text.isascii() and text.isdigit()):
        raise CronError(f"{field}: {text!r} is not a number")
    return int(text)


def _field(text: str, low: int, high: int, field: str, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field}: empty list item")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
                raise CronError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, names or {}, field), _value(last, names or {}, field)
        else:
            start = _value(base, names or {}, field)
            end = high if step_text else start
        for bound in (start, end):
            if not low <= bound <= high:
                raise CronError(f"{field}: {bound} is outside {low}-{high}")
        if start > end:
            raise CronError(f"{field}: range {start}-{end} runs backwards")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def cron_parse(expression: str) -> Cron:
    """Parse a five-field expression; raises CronError naming the field at fault."""
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(f"a cron expression has 5 fields (minute hour day month weekday), not {len(parts)}")
    minute, hour, day, month, weekday = parts
    weekdays = _field(weekday, 0, 7, "weekday", WEEKDAYS)
    return Cron(
        minutes=_field(minute, 0, 59, "minute"),
        hours=_field(hour, 0, 23, "hour"),
        days=_field(day, 1, 31, "day of month"),
        months=_field(month, 1, 12, "month", MONTHS),
        weekdays=frozenset(d % 7 for d in weekdays),
        days_restricted=day != "*",
        weekdays_restricted=weekday != "*",
    )


def timezone_get(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder such as "America"
        raise CronError(f"{name!r} is not an IANA timezone (e.g. Europe/Berlin, UTC)") from exc


def _instant(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time, by the module's daylight-saving rules."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # exists; on a repeated hour fold=0 is the first occurrence
    # Skipped by a jump forward: fire at the jump, the first minute whose wall time is later.
    later = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(first, later), max(first, later)
    moment = low
    while moment < high and moment.astimezone(zone).replace(tzinfo=None) < naive:
        moment += timedelta(minutes=1)
    return moment


def cron_next(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first fire instant strictly after `after` (aware), in UTC; None if it never fires
    (or only past the year 9999)."""
    try:
        return _cron_next(cron, zone, after)
    except OverflowError:
        return None


def _cron_next(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime | None:
    local_start = after.astimezone(zone).replace(tzinfo=None)
    # Offsets change by at most a few hours: wall times well before `after` cannot fire after it.
    earliest = local_start - timedelta(hours=4)
    day = earliest.date()
    hours, minutes = sorted(cron.hours), sorted(cron.minutes)
    for _ in range(SEARCH_DAYS):
        if cron.matches_day(day):
            for hour in hours:
                for minute in minutes:
                    naive = datetime(day.year, day.month, day.day, hour, minute)
                    if naive < earliest:
                        continue
                    moment = _instant(naive, zone)
                    if moment > after:
                        return moment
        day += timedelta(days=1)
    return None


def cron_validate(expression: str, timezone_name: str) -> None:
    """Raise CronError unless the expression parses, the zone exists and it ever fires."""
    cron = cron_parse(expression)
    zone = timezone_get(timezone_name)
    if cron_next(cron, zone, datetime.now(UTC)) is None:
        raise CronError("the expression never fires (no such date)")
