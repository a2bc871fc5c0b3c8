"""What `seed_demo` creates: the demo staff, generated customers, and one scenario per customer.

Every customer is generated from its own index alone (its own Random and Faker seed), so customer
#17 is the same person in every run and with every `--customers` count: a rerun recognises it by
its email and skips it, and a bigger count only adds the customers after the existing ones.
"""

import random
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

# A fixed seed keeps the demo reproducible: screenshots, docs and bug reports show the same people.
SEED = 20240611

# Latin-script locales with diacritics (Łukasz, Grégoire, Kučerová, Eryıldız), so the console is
# exercised with the names European shops really have; emails are transliterated to ASCII.
LOCALES = {
    "de_DE": ("DE", "German"), "de_AT": ("AT", "German"), "fr_FR": ("FR", "French"), "es_ES": ("ES", "Spanish"),
    "pl_PL": ("PL", "Polish"), "sv_SE": ("SE", "Swedish"), "tr_TR": ("TR", "Turkish"), "pt_PT": ("PT", "Portuguese"),
    "it_IT": ("IT", "Italian"), "cs_CZ": ("CZ", "Czech"), "en_GB": ("GB", "English"), "nl_NL": ("NL", "Dutch"),
    "da_DK": ("DK", "Danish"), "fi_FI": ("FI", "Finnish"), "hu_HU": ("HU", "Hungarian"), "ro_RO": ("RO", "Romanian"),
    "hr_HR": ("HR", "Croatian"),
}
# The demo shop sells in euros only, so revenue figures on the dashboard add up.
CURRENCY = "EUR"
STORE = "demo-shop"
# Letters NFKD does not decompose into ASCII.
_TRANSLIT = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "ß": "ss", "ı": "i", "đ": "d", "œ": "oe", "þ": "th"})

# (username, first name, last name, teams it manages)
MANAGERS = [
    ("manager", "Maren", "Holt", ["commerce", "support", "success"]),
    ("sofia", "Sofía", "Ibáñez", ["marketing"]),  # sales has no manager: its escalations go to "managers"
]
# (username, first name, last name, teams, capacity, on shift). Capacities are sized for the ~300
# seeded customers plus what the sandbox shop sends in a long session of `make run` (about 25 orders
# a minute): Success, which takes every paid customer, keeps room for about two hundred more. When a
# team is full anyway, its new customers wait visibly in its queue, claimable by its agents, and are
# routed as soon as someone has room. Hana is off shift: marking her on shift routes waiting
# customers to her.
AGENTS = [
    ("agent", "Alex", "Meyer", ["support", "success", "commerce"], 60, True),
    ("amira", "Amira", "Haddad", ["success"], 120, True),
    ("bruno", "Bruno", "Costa", ["commerce"], 80, True),
    ("chen", "Chen", "Wei", ["support"], 60, True),
    ("dana", "Dana", "Nováková", ["marketing"], 100, True),
    ("emil", "Emil", "Lindqvist", ["success"], 60, True),  # the retention specialist for at-risk customers
    ("farah", "Farah", "Qureshi", ["marketing", "sales"], 80, True),
    ("goran", "Goran", "Petrović", ["commerce", "support"], 70, True),
    ("hana", "Hana", "Šimková", ["success"], 80, False),
    ("ines", "Inês", "Carvalho", ["sales"], 40, True),
    ("jonas", "Jonas", "Økland", ["success"], 110, True),
]
OPERATIONS = [("ops", "Olu", "Adeyemi")]
RETENTION_SPECIALIST = "emil"

# Prices of a small home-and-garden shop; baskets hold one to four of them plus shipping.
PRICES = [Decimal(p) for p in ("9.90", "14.50", "19.90", "24.00", "29.90", "39.00", "49.90", "59.00", "79.90",
                               "99.00", "129.00", "189.00", "249.00", "349.00")]
SHIPPING, FREE_SHIPPING_FROM = Decimal("4.90"), Decimal("50.00")

# Orders older than this may arrive already in their final paid state (a shop's history import)
# instead of walking every step: fewer events, and a faster seed.
HISTORY_DAYS = 21

# The ways an order travels from pending_payment to each final state (every step is a transition
# the Order state machine allows); the first walks through the warehouse, the others are shorter
# shop-only flows (WooCommerce goes processing → completed without an ERP).
PATHS = {
    "pending_payment": [[]],
    "on_hold": [["on_hold"]],
    "paid": [["paid"]],
    "fulfilling": [["paid", "fulfilling"]],
    "shipped": [["paid", "fulfilling", "shipped"], ["paid", "shipped"]],
    "delivered": [["paid", "fulfilling", "shipped", "delivered"], ["paid", "shipped", "delivered"]],
    "completed": [["paid", "fulfilling", "shipped", "delivered", "completed"], ["paid", "completed"]],
    "cancelled": [["cancelled"]],
    "refunded": [["paid", "fulfilling", "shipped", "delivered", "refunded"], ["paid", "refunded"]],
    "partially_refunded": [["paid", "shipped", "delivered", "partially_refunded"], ["paid", "partially_refunded"]],
    "failed": [["failed"]],
    "deleted": [["cancelled", "deleted"]],
}
# The raw status and the system that reports each canonical state (WooCommerce defaults, DOMAIN.md;
# warehouse progress comes from the ERP).
RAW = {
    "pending_payment": ("shop", "pending"), "on_hold": ("shop", "on-hold"), "paid": ("shop", "processing"),
    "fulfilling": ("erp", "To Deliver and Bill"), "shipped": ("erp", "To Bill"), "delivered": ("erp", "Completed"),
    "completed": ("shop", "completed"), "cancelled": ("shop", "cancelled"), "refunded": ("shop", "refunded"),
    "partially_refunded": ("shop", "completed"), "failed": ("shop", "failed"), "deleted": ("shop", "trash"),
}


@dataclass
class Person:
    index: int
    locale: str
    name: str
    email: str
    phone: str
    country: str
    language: str


def ascii_slug(text):
    text = unicodedata.normalize("NFKD", text.lower().translate(_TRANSLIT))
    return re.sub(r"[^a-z]", "", text.encode("ascii", "ignore").decode())


def customer_rng(index):
    return random.Random(SEED * 1_000_003 + index)


def generate_people(count):
    """The first `count` demo customers; the same list (prefix) in every run."""
    from faker import Faker  # a dev dependency (factory_boy); imported here so the module loads without it

    fakers = {locale: Faker(locale) for locale in LOCALES}
    used_emails, used_phones, people = set(), set(), []
    for index in range(count):
        rng = customer_rng(index)
        locale = rng.choice(sorted(LOCALES))
        fake = fakers[locale]
        fake.seed_instance(SEED + index)
        # One gender per person: Czech, Polish or Croatian surnames change with it (Novák, Nováková).
        if rng.random() < 0.5:
            first, last = fake.first_name_female(), fake.last_name_female()
        else:
            first, last = fake.first_name_male(), fake.last_name_male()
        f, la = ascii_slug(first) or "kunde", ascii_slug(last) or "demo"
        local = rng.choice(
            [f"{f}.{la}", f"{f}{la}", f"{f[0]}.{la}", f"{f}_{la}", f"{la}.{f}", f"{f}{rng.randint(1, 99)}"]
        )
        email = f"{local}@{fake.free_email_domain()}"
        while email in used_emails:  # two Anna Müllers: the second gets digits, as mail providers do
            email = f"{local}{rng.randint(2, 999)}@{email.split('@')[1]}"
        used_emails.add(email)
        # Some shoppers never give a phone; Faker's extensions ("x066") are not part of the number.
        phone = "" if rng.random() < 0.15 else fake.phone_number().split("x")[0].strip()
        digits = re.sub(r"\D", "", phone)
        if digits in used_phones:
            phone = ""
        used_phones.add(digits)
        country, language = LOCALES[locale]
        people.append(Person(index, locale, f"{first} {last}", email, phone, country, language))
    return people


def basket_total(rng):
    total = sum(rng.choices(PRICES, k=rng.choice([1, 1, 1, 2, 2, 3, 4])), Decimal("0"))
    return total + (SHIPPING if total < FREE_SHIPPING_FROM else Decimal("0"))


# --- Scenarios: one per customer; `c` is the Plan in seed_demo (order / move / pick / days) ----
def prospect(c):
    """A shop account that never ordered: exists, unowned."""


def purchased_pending(c):
    c.order("pending_payment", c.days(0, 6))


def purchased_on_hold(c):
    c.order("on_hold", c.days(1, 12))  # awaiting a bank transfer


def purchased_retry(c):
    d = c.days(1, 10)
    c.order("pending_payment", d)
    c.order("failed", d + 1)  # the card was declined the day before; the retry is pending


def onboarding_new(c):
    final = c.pick(["paid", "fulfilling", "shipped", "delivered", "completed"])
    c.order(final, c.days(1, 27), start=c.pick(["paid", None]))  # card payments arrive paid


def onboarding_bank_transfer(c):
    c.order("paid", c.days(2, 20), path=["on_hold", "paid"])


def onboarding_restarted(c):
    c.order("completed", c.days(40, 100))
    c.move("activate", by="agent", reason="30-day value review done")
    c.move("back_to_onboarding", by="manager",
           reason="Customer never finished the setup; restarting onboarding at their request")


def active_repeat(c):
    d = c.days(6, 28)
    c.order("delivered", d)
    c.order(c.pick(["shipped", "paid", "fulfilling"]), c.days(0, d - 1))  # the second paid order activates


def active_journey(c):
    c.order("completed", c.days(35, 110))
    c.move("activate", by=c.pick(["agent", "system"]), reason="Journey completed: 30-day value review done")
    if c.rng.random() < 0.5:
        c.order(c.pick(["pending_payment", "on_hold", "partially_refunded", "cancelled", "completed"]), c.days(0, 25))


def active_winback(c):
    c.order("cancelled", c.days(70, 115), path=c.pick([["cancelled"], ["on_hold", "cancelled"]]))  # → churned
    c.order("fulfilling", c.days(0, 10))  # a paid order wins the customer back (churned → active)


def loyal(c, *, demote=False):
    n = c.rng.randint(3, 5)
    first = c.days(75, 120)
    ages = sorted((c.days(1, first - 10) for _ in range(n - 1)), reverse=True)
    c.order("completed", first)
    for age in ages[:-1]:
        c.order(c.pick(["completed", "completed", "delivered"]), age)
    c.order("shipped" if demote else c.pick(["shipped", "completed", "fulfilling", "pending_payment"]), ages[-1])
    c.move("activate", by="system", reason="Journey completed: 30-day value review done")
    c.move("make_loyal", by="system", reason=f"{n} orders, health {c.rng.randint(72, 96)} > 70")
    if demote:
        c.move("back_to_active", by="manager",
               reason="Marked loyal too early: two of the orders were warranty replacements")


def active_demoted(c):
    loyal(c, demote=True)


def at_risk_refund(c):
    c.order("completed", c.days(40, 100))
    c.move("activate", by="system", reason="Journey completed: 30-day value review done")
    order = c.order("refunded", c.days(3, 30))
    c.move("flag_at_risk", by="system", reason=f"Refund on order #{order.number}")


def at_risk_partial_refund(c):
    order = c.order("partially_refunded", c.days(5, 25))
    c.move("flag_at_risk", by="system", reason=f"Partial refund on order #{order.number}: item arrived damaged")


def at_risk_health(c):
    c.order("completed", c.days(50, 110))
    c.move("activate", by="agent", reason="Journey completed: 30-day value review done")
    c.move("flag_at_risk", by="system", reason=f"Health {c.rng.randint(18, 39)} < 40: no activity for six weeks")


def at_risk_payment(c):
    c.order("shipped", c.days(10, 25))
    c.order("failed", c.days(0, 5))
    c.move("flag_at_risk", by="agent", reason="Payment failed twice on the follow-up order")


def churned_cancelled(c):
    c.order("cancelled", c.days(5, 110), path=c.pick([["cancelled"], ["on_hold", "cancelled"]]))


def churned_refunded(c):
    c.order("refunded", c.days(15, 110))


def churned_failed(c):
    c.order("failed", c.days(2, 90))


def churned_deleted(c):
    c.order("deleted", c.days(10, 100), path=c.pick([["cancelled", "deleted"], ["deleted"]]))


def churned_inactive(c):
    c.order("completed", c.days(100, 120))
    c.move("activate", by="system", reason="Journey completed: 30-day value review done")
    c.move("flag_at_risk", by="system", reason=f"Health {c.rng.randint(10, 30)} < 40: no activity for eight weeks")
    c.move("churn", by="system", reason="No paid order and no activity in the churn window; win-back unanswered")


# (scenario, stage it must end in, weight). The first len(SCENARIOS) customers take each scenario
# once, so even a small demo shows every stage and every order state; the rest are drawn by weight.
SCENARIOS = [
    (prospect, "prospect", 5),
    (purchased_pending, "purchased", 5),
    (purchased_on_hold, "purchased", 3),
    (purchased_retry, "purchased", 2),
    (onboarding_new, "onboarding", 12),
    (onboarding_bank_transfer, "onboarding", 4),
    (onboarding_restarted, "onboarding", 2),
    (active_repeat, "active", 6),
    (active_journey, "active", 9),
    (active_winback, "active", 3),
    (active_demoted, "active", 2),
    (at_risk_refund, "at_risk", 4),
    (at_risk_partial_refund, "at_risk", 3),
    (at_risk_health, "at_risk", 3),
    (at_risk_payment, "at_risk", 2),
    (loyal, "loyal", 15),
    (churned_cancelled, "churned", 4),
    (churned_refunded, "churned", 3),
    (churned_failed, "churned", 3),
    (churned_deleted, "churned", 2),
    (churned_inactive, "churned", 3),
]


def scenario_for(index, rng):
    if index < len(SCENARIOS):
        return SCENARIOS[index]
    return rng.choices(SCENARIOS, weights=[w for _, _, w in SCENARIOS])[0]


# Why a manager moves a customer by hand (team slug or None for "same team, another agent", reason).
REASSIGNMENTS = [
    (None, "Customer asked for a {language}-speaking contact"),
    (None, "Rebalancing queues: {agent} is over their usual load"),
    ("support", "Open delivery complaint: support leads until it is resolved"),
    ("sales", "B2B buyer (VAT id on the invoice): sales handles volume pricing"),
]
REASSIGN_SHARE = 0.15  # of owned customers: enough manual handoffs to show in every queue
