"""Reads of health for people: a customer's score with each component said in a sentence and the
trend (the customer screen, the API), the distribution of bands and, per team, the expansion
candidates and at-risk customers (the dashboard). Each a fixed number of queries: the API reads the
scores and trends of a page of customers in two, whatever its size.
"""

from collections import namedtuple
from dataclasses import dataclass, field
from datetime import UTC

from django.db import connection
from django.db.models import Count, F, JSONField, Q, Subquery, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from lifecycle.db.sql import quote, table
from lifecycle.models import Band, Customer, HealthPolicy, HealthScore, HealthSnapshot, Ownership, Stage
from lifecycle.services.health_score import COMPONENTS, LABELS

TREND_POINTS = 12  # the sparkline's last scores: a quarter of nightly changes, enough to see a direction
LISTED_PER_TEAM = 5  # the dashboard names the first few of each list; the count says how many in all
BAND_WORDS = {Band.INTERVENE: gettext_lazy("intervene"), Band.OPTIMIZE: gettext_lazy("optimize"),
              Band.EXPAND: gettext_lazy("expand")}
SPARK_WIDTH, SPARK_HEIGHT = 200, 48


TrendPoint = namedtuple("TrendPoint", "at score band")


@dataclass
class ComponentLine:
    name: str
    label: str
    sentence: str
    missing: bool
    points: float | None  # its share of the 100 points
    contribution: float | None  # the points it earned
    value: object

    @property
    def earned(self):
        """"8.3 of 25 points"."""
        return _("%(got)s of %(max)s points") % {"got": _points(self.contribution), "max": _points(self.points)}

    @property
    def share(self):
        """The percentage of its points it earned (the bar's width)."""
        return round(100 * self.contribution / self.points) if self.points else 0


@dataclass
class HealthView:
    score: int | None
    band: str
    band_label: str
    components: list = field(default_factory=list)
    trend: list = field(default_factory=list)  # [TrendPoint], oldest first
    policy_version: int = 0
    computed_at: object = None
    stale: bool = False
    missing_count: int = 0
    has_orders: bool = True  # without, no score is expected
    intervene_below: int = 40  # the policy's lines (the sparkline draws them)
    expand_above: int = 70

    @property
    def sparkline(self):
        """The trend as SVG polyline points ("x,y …"), score 100 at the top; "" under two scores."""
        scores = [s for _, s, _ in self.trend if s is not None]
        if len(scores) < 2:
            return ""
        step = SPARK_WIDTH / (len(scores) - 1)
        return " ".join(f"{i * step:.1f},{SPARK_HEIGHT - s * SPARK_HEIGHT / 100:.1f}" for i, s in enumerate(scores))

    @property
    def trend_words(self):
        """The trend in words, for who does not see the line ("" before a second score)."""
        scores = [str(s) for _, s, _ in self.trend if s is not None]
        return _("Scores, oldest first: %(scores)s") % {"scores": ", ".join(scores)} if len(scores) > 1 else ""

    @property
    def last_point(self):
        """(x, y) of the newest score: the sparkline marks it."""
        points = self.sparkline.split()
        return points[-1].split(",") if points else None

    @property
    def intervene_y(self):
        return f"{SPARK_HEIGHT - self.intervene_below * SPARK_HEIGHT / 100:.1f}"

    @property
    def expand_y(self):
        return f"{SPARK_HEIGHT - self.expand_above * SPARK_HEIGHT / 100:.1f}"

    @property
    def spark_size(self):
        return {"width": SPARK_WIDTH, "height": SPARK_HEIGHT}


def _points(x):
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def sentence(name, c):
    """What a stored component counted, in a sentence a person reads (its points are beside it); a
    missing one says what is missing and that it does not count."""
    if c.get("missing"):
        return {
            "on_time_delivery": _("Missing: no paid order has been delivered yet or passed its delivery window, so "
                                  "delivery does not count."),
            "journey_on_time": _("Missing: no step of a first-30-days journey has come due, so the journey does "
                                 "not count."),
            "refunds": _("Missing: no order has been paid yet, so refunds do not count."),
            "recent_activity": _("Missing: no activity is recorded, so activity does not count."),
        }.get(name, _("Missing: no data, so it does not count."))
    if c.get("contribution") is None:
        return _("Not counted: its weight is zero.")
    value = c["value"]
    if name == "repeat_orders":
        said = (_("No repeat paid order yet") if not value else ngettext(
            "%(n)d repeat paid order", "%(n)d repeat paid orders", value) % {"n": value})
        said += " " + ngettext("(%(n)d paid order in all)", "(%(n)d paid orders in all)",
                               c["paid_orders"]) % {"n": c["paid_orders"]}
    elif name == "on_time_delivery":
        said = ngettext("%(on)d of %(n)d paid order delivered within %(d)d days of payment",
                        "%(on)d of %(n)d paid orders delivered within %(d)d days of payment", c["judged"]) % {
            "on": value, "n": c["judged"], "d": c["within_days"]}
    elif name == "journey_on_time":
        said = ngettext("%(on)d of %(n)d journey step done on time", "%(on)d of %(n)d journey steps done on time",
                        c["due"]) % {"on": value, "n": c["due"]}
        said += " " + _("(%(late)d late, %(missed)d missed)") % {"late": c["late"], "missed": c["missed"]}
    elif name == "open_exceptions":
        said = (_("No open exception") if not value else ngettext(
            "%(n)d open exception (each costs a third)", "%(n)d open exceptions (each costs a third)", value)
            % {"n": value})
    elif name == "refunds":
        said = (ngettext("No paid order refunded (of %(n)d)", "No paid order refunded (of %(n)d)", c["paid"])
                % {"n": c["paid"]} if not value else ngettext(
                    "%(r)d of %(n)d paid order refunded in whole or part",
                    "%(r)d of %(n)d paid orders refunded in whole or part", c["paid"]) % {"r": value, "n": c["paid"]})
    else:
        said = (_("Last activity today") if not value else ngettext(
            "Last activity %(n)d day ago", "Last activity %(n)d days ago", value) % {"n": value})
        said += " " + _("(counts in full for %(quiet)d days, nothing after %(churn)d)") % {
            "quiet": c["quiet_days"], "churn": c["churn_days"]}
    return f"{said}."


def view_of(score, trend=()):
    """A HealthView of a stored HealthScore (None: never computed) and its trend."""
    if score is None or score.computed_at is None:
        return HealthView(score=None, band="", band_label=_("not computed yet"), trend=[TrendPoint(*t) for t in trend],
                          stale=score is not None)
    lines = []
    for name in COMPONENTS:
        c = score.components.get(name)
        if c is None:
            continue
        lines.append(ComponentLine(name, _(LABELS[name]), sentence(name, c), bool(c.get("missing")), c.get("points"),
                                   c.get("contribution"), c.get("value")))
    return HealthView(score=score.score, band=score.band, band_label=BAND_WORDS.get(score.band, _("no score")),
                      components=lines, trend=[TrendPoint(*t) for t in trend], policy_version=score.policy_version,
                      computed_at=score.computed_at, stale=score.stale_since is not None,
                      missing_count=sum(1 for line in lines if line.missing))


def trends_of(customer_ids, points=TREND_POINTS):
    """{customer id: [(computed_at, score, band)] oldest first}: the last `points` snapshots of each, in
    one query (a window per customer over the history index)."""
    if not customer_ids:
        return {}
    ranked = (HealthSnapshot.objects.filter(customer_id__in=customer_ids)
              .annotate(rank=Window(RowNumber(), partition_by=[F("customer_id")],
                                    order_by=[F("computed_at").desc(), F("id").desc()]))
              .filter(rank__lte=points).values_list("customer_id", "computed_at", "score", "band"))
    found = {}
    for customer_id, at, value, band in ranked:
        found.setdefault(customer_id, []).append((at, value, band))
    return {customer_id: sorted(rows, key=lambda row: row[0]) for customer_id, rows in found.items()}


def with_health(queryset, *, lines=True):
    """Customers read with their score, trend and (`lines`) the policy's band lines in the same query
    (the customer screen's one read of its customer, a page of the API: health costs no query of its
    own)."""
    queryset = queryset.select_related("health").annotate(
        health_trend=RawSQL(_trend_sql(), (), output_field=JSONField()))
    if not lines:
        return queryset
    policy = HealthPolicy.objects.order_by("pk")
    return queryset.annotate(health_low=Subquery(policy.values("intervene_below")[:1]),
                             health_high=Subquery(policy.values("expand_above")[:1]))


def _trend_sql():
    """SQL: the customer's last TREND_POINTS snapshots as a JSON array of [computed_at, score, band],
    oldest first."""
    customer, snapshots = f"{table(Customer)}.{quote('id')}", table(HealthSnapshot)
    last = (f"SELECT s.computed_at, s.score, s.band, s.id FROM {snapshots} s WHERE s.customer_id = {customer} "
            f"ORDER BY s.computed_at DESC, s.id DESC LIMIT {TREND_POINTS}")
    if connection.vendor == "postgresql":
        return (f"(SELECT jsonb_agg(jsonb_build_array(t.computed_at, t.score, t.band) ORDER BY t.computed_at, t.id) "
                f"FROM ({last}) t)")
    return (f"(SELECT json_group_array(json_array(t.computed_at, t.score, t.band)) "
            f"FROM (SELECT * FROM ({last}) ORDER BY computed_at, id) t)")


def customer_health(customer):
    """The customer screen's health section, from the columns with_health read with the customer
    (else three queries: the score, its trend, the policy's lines)."""
    if hasattr(customer, "health_trend"):
        score = getattr(customer, "health", None) if _has_score_row(customer) else None
        trend = [(_moment(at), value, band) for at, value, band in customer.health_trend or []]
        lines = (customer.health_low, customer.health_high)
    else:
        score = HealthScore.objects.filter(customer_id=customer.pk).first()
        trend = trends_of([customer.pk]).get(customer.pk, ())
        lines = HealthPolicy.objects.order_by("pk").values_list("intervene_below", "expand_above").first()
    view = view_of(score, trend)
    if lines and lines[0] is not None:
        view.intervene_below, view.expand_above = lines
    view.has_orders = score is not None or customer.stage != Stage.PROSPECT
    return view


def _has_score_row(customer):
    try:
        return customer.health is not None
    except HealthScore.DoesNotExist:
        return False


def _moment(value):
    """A snapshot's time as the JSON array carries it (ISO text; SQLite's without a zone is UTC)."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def attach_health(customers):
    """Set `health_view` on each customer of an API page read through with_health (None without a
    score row): no query, the page's own read carried the scores and trends."""
    for customer in customers:
        score = customer.health if _has_score_row(customer) else None
        trend = [(_moment(at), value, band) for at, value, band in customer.health_trend or []]
        customer.health_view = view_of(score, trend) if score is not None else None
    return customers


# --- the dashboard ---------------------------------------------------------------------------------
def band_distribution():
    """[(band, label, customers)] over every score, and the customers with orders but no score yet."""
    counts = dict(HealthScore.objects.values_list("band").annotate(n=Count("pk")).order_by())
    rows = [(band, BAND_WORDS[band], counts.get(band, 0)) for band in (Band.INTERVENE, Band.OPTIMIZE, Band.EXPAND)]
    return rows + [("", _("no score yet"), counts.get("", 0))]


# Seen from the owner row: expansion candidates (expand band with a repeat purchase, not churned) and
# customers at risk (the at_risk stage), with the order each list is read in.
EXPANDING = (Q(customer__health__band=Band.EXPAND, customer__health__components__repeat_orders__value__gte=1)
             & ~Q(customer__stage=Stage.CHURNED))
LISTS = {
    "expansion": (EXPANDING, F("customer__health__score").desc(nulls_last=True)),
    "at_risk": (Q(customer__stage=Stage.AT_RISK), F("customer__health__score").asc(nulls_last=True)),
}


def team_lists(limit=LISTED_PER_TEAM):
    """Per owning team: its expansion candidates (highest score first) and its customers at risk
    (lowest score first), each the first `limit` with their count: {team id: {"team": name,
    "expansion": [...], "expansion_total": n, "at_risk": [...], "at_risk_total": n}}; a query per list."""
    teams = {}
    for key, (condition, ordering) in LISTS.items():
        ranked = (Ownership.objects.filter(condition)
                  .annotate(rank=Window(RowNumber(), partition_by=[F("team_id")],
                                        order_by=[ordering, F("customer_id").asc()]),
                            total=Window(Count("pk"), partition_by=[F("team_id")]))
                  .filter(rank__lte=limit)
                  .values_list("team_id", "team__name", "total", "customer_id", "customer__display_name",
                               "customer__email", "customer__health__score", "customer__stage"))
        for team_id, team_name, total, customer_id, name, email, score, stage in ranked:
            team = teams.setdefault(team_id, {"team": team_name, "expansion": [], "at_risk": [], "expansion_total": 0,
                                              "at_risk_total": 0})
            team[f"{key}_total"] = total
            team[key].append({"id": customer_id, "name": name or email or _("Customer %(id)s") % {"id": customer_id},
                              "score": score, "stage": Stage(stage).label})
    return dict(sorted(teams.items(), key=lambda item: item[1]["team"]))
