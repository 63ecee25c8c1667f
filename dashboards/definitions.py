"""What the dashboards' words mean, written once.

Every figure on every dashboard page, the JSON API, the rollup that counts them and the
license-list links behind each number take their meaning from here: the rule as a
predicate on one license (what the rollup counts), as a queryset filter (what a link
lists), and in words (the help page).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, Q

from licenses.choices import LicenseStatus, OrgType
from packages.choices import SITE_LICENSE

LIVE_STATUSES: tuple[str, ...] = (LicenseStatus.TRIAL, LicenseStatus.ACTIVE)
RETENTION_DAYS: tuple[int, ...] = (30, 60, 90)
TRIAL_ENDING_DAYS: tuple[int, ...] = (7, 14, 30)
NOT_BOUGHT = -1  # purchase_days of a trial that was never bought
COHORT_MONTHS_MAX = 24

# Periods a page can look back over, in days.
PERIODS: dict[int, str] = {
    30: "Last 30 days",
    90: "Last 90 days",
    180: "Last 180 days",
    365: "Last 12 months",
}

# Which orgs count. Sandboxes are test copies of a customer's org: business figures leave
# them out unless asked.
ORG_SCOPES: dict[str, str] = {
    "production": "Production orgs (sandboxes excluded)",
    "sandbox": "Sandboxes only",
    "all": "Production and sandbox orgs",
}
DEFAULT_ORG_SCOPE = "production"


def org_types(scope: str) -> tuple[str, ...]:
    if scope == "sandbox":
        return (OrgType.SANDBOX,)
    if scope == "all":
        return (OrgType.PRODUCTION, OrgType.SANDBOX)
    return (OrgType.PRODUCTION,)


@dataclass(frozen=True)
class Definition:
    slug: str
    term: str
    meaning: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "live",
        "Live",
        "A license in trial or active whose end (if it has one) has not passed. Suspended, "
        "expired and uninstalled licenses are not live. A trial or contract whose end passed "
        "moments ago stops being live at once, before the expiry sweep marks it expired.",
    ),
    Definition(
        "active-seats",
        "Active seats",
        "The seats of live active licenses. Site licenses (seats -1: every user of the org) "
        "have no seat count; they are counted apart, as licenses.",
    ),
    Definition(
        "seats-used",
        "Seats used vs bought",
        "Used: the seats the subscriber org last reported in use, summed over the same "
        "licenses as Active seats (site licenses apart). Bought: their seats.",
    ),
    Definition(
        "over-use",
        "Over-use",
        "A live license with a seat count whose reported used seats exceed its seats; its "
        "excess is used minus seats.",
    ),
    Definition(
        "in-grace",
        "In grace",
        "A trial or active license past its end but within its package's grace days: the "
        "org keeps access (the license check answers GRACE) and the license is not live. "
        "The expiry sweep expires it when its grace ends.",
    ),
    Definition(
        "installs",
        "Install, uninstall, net growth",
        "An install is a new license: a first install or a reinstall after an uninstall. An "
        "uninstall is a license marked uninstalled. Net growth is installs minus uninstalls.",
    ),
    Definition(
        "trial-ending",
        "Trials ending within N days",
        "Licenses in trial whose end date (UTC) falls between today and N days from today.",
    ),
    Definition(
        "trial-cohort",
        "Trial cohort",
        "The licenses whose trial started in a month. A reinstall continues the trial of the "
        "license it replaces and starts none.",
    ),
    Definition(
        "converted",
        "Converted",
        "A trial that was bought (made active) at any time, whatever happened after. The "
        "other trials of a cohort are still in trial, expired, suspended or uninstalled, as "
        "they are now. Days to purchase: from the trial's start to the first activation.",
    ),
    Definition(
        "churned",
        "Churned",
        "Uninstalled. Uninstalls are counted in the month they happened, under the status "
        "the license had when it was uninstalled.",
    ),
    Definition(
        "retained",
        "Still installed after N days",
        "Of a month's installs, the share not uninstalled within N days of their install. "
        "Shown once every install of the month is N days old.",
    ),
    Definition(
        "latest-version",
        "Latest version",
        "The highest released (non-beta) version number of the package.",
    ),
    Definition(
        "feature-adoption",
        "Feature adoption",
        "For a switch set here (LMO to subscriber, yes/no): the share of live licenses with "
        "it on. For a reading the subscriber reports (subscriber to LMO, a number): the "
        "median, 90th percentile and maximum of the values live licenses hold now (the last "
        "each reported). Both describe the licenses as they are now, whatever the period.",
    ),
    Definition(
        "sandboxes",
        "Sandboxes",
        "Sandbox orgs are customers' test copies. Business figures count production orgs "
        "only, unless the page's org filter says otherwise.",
    ),
    Definition(
        "previous-period",
        "Change against the previous period",
        "The figure now minus the same figure at the start of the period, as the rollup "
        "recorded it then.",
    ),
)
DEFINITION_SLUGS = frozenset(d.slug for d in DEFINITIONS)


# --- The rules on one license (what the rollup counts) ---------------------------------


def is_site_license(seats: int) -> bool:
    return seats == SITE_LICENSE


def is_over_limit(seats: int, used: int | None) -> bool:
    return not is_site_license(seats) and used is not None and used > seats


def purchase_days(trial_started_at: dt.datetime, activated_at: dt.datetime | None) -> int:
    if activated_at is None:
        return NOT_BOUGHT
    return max(0, (activated_at - trial_started_at).days)


def gone_within(installed_at: dt.datetime, uninstalled_at: dt.datetime | None, days: int) -> bool:
    return uninstalled_at is not None and uninstalled_at < installed_at + dt.timedelta(days=days)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def utc_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


# --- The same rules as queryset filters (what a link lists) ---------------------------


def live_q(now: dt.datetime) -> Q:
    return Q(status__in=LIVE_STATUSES) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def over_limit_q() -> Q:
    return ~Q(seats=SITE_LICENSE) & Q(used_licenses__isnull=False, used_licenses__gt=F("seats"))


def retained_q(days: int) -> Q:
    return Q(uninstalled_at__isnull=True) | Q(
        uninstalled_at__gte=F("installed_at") + dt.timedelta(days=days)
    )
