"""Demo customers and dispatches for `manage.py seed_demo`, after the demo batches: what the
workshop sold of what it made, so trace and recall show real customers.

Eight customers (Etsy and Shopify buyers, a gift shop that buys wholesale, the Saturday market
stall) and 25 dispatches from the demo batches' saleable lots, each a few days after its lots
were made, through the real service (`stock.dispatches.dispatch_create`), with the lots named as
a maker would pick them off the shelf; one came back and was reversed. Dates: the clock is
handed in by the command (batches.demo.as_of), since stock imports nothing above it.

Seeding again does nothing once the demo dispatches exist.
"""

from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, timedelta
from decimal import Decimal as D

from stock.dispatches import Sent, customer_save, dispatch_create, dispatch_reverse
from stock.models import (
    Balance,
    Customer,
    Dispatch,
    ItemKind,
    Lot,
    PostingKind,
    production_location,
    workshop_today,
)

KEY = "demo-dispatch-"

# name, email, phone, address, notes
CUSTOMERS = [
    (
        "Hannah Okafor",
        "hannah.okafor@example.com",
        "+44 7700 900123",
        "14 Weaver's Row\nHebden Bridge HX7 8AD",
        "Buys lavender as gifts: tissue wrap, no invoice in the parcel.",
    ),
    ("Tomás Ruiz", "tomas.ruiz@example.com", "", "Calle Mayor 5, 2ºB\n28013 Madrid\nSpain", ""),
    (
        "The Little Gift Shop",
        "orders@littlegiftshop.example",
        "+44 1422 555010",
        "3 Market Street\nTodmorden OL14 5AB",
        "Wholesale: 40 % off retail, invoice at 30 days. Closed Mondays.",
    ),
    ("Priya Nair", "priya.nair@example.com", "+44 7700 900456", "22 Canal Walk\nLeeds LS1 4BR", ""),
    ("Jonas Becker", "jonas.becker@example.com", "", "Lindenstraße 8\n10969 Berlin\nGermany", ""),
    (
        "Maeve Gallagher",
        "maeve.g@example.com",
        "",
        "7 Harbour View\nCobh, Co. Cork\nIreland",
        "Sensitive skin: asked which soaps are fragrance-free.",
    ),
    (
        "Saturday market, Hebden Bridge",
        "",
        "",
        "St George's Square, Hebden Bridge",
        "Walk-up sales at the stall, recorded once per market day.",
    ),
    (
        "Ruth Ellison",
        "ruth.ellison@example.com",
        "+44 7700 900789",
        "5 Moor Lane\nHaworth BD22 8QX",
        "",
    ),
]

# key, customer (index above), channel, order number, days after the last of its lots was made,
# lines: (variant SKU, which of that SKU's saleable lots (0: the oldest), how many).
DISPATCHES = [
    ("d01", 0, "Etsy", "#3051", 3, [("CND-LAV", 0, 2)]),
    ("d02", 6, "Market", "", 4, [("CND-LAV", 0, 3), ("CND-CED", 0, 2), ("CND-FIG", 0, 3)]),
    ("d03", 2, "Wholesale", "PO-118", 6, [("CND-FIG", 0, 4), ("CND-CED", 0, 3)]),
    ("d04", 1, "Etsy", "#3064", 2, [("CND-LAV", 1, 1)]),
    ("d05", 3, "Shopify", "#1001", 3, [("CND-CED", 1, 2), ("BALM", 0, 2)]),
    ("d06", 6, "Market", "", 5, [("CND-LAV", 1, 4), ("CND-FIG", 1, 3), ("BALM", 0, 6)]),
    ("d07", 4, "Shopify", "#1002", 4, [("BALM", 0, 3)]),
    ("d08", 5, "Etsy", "#3090", 2, [("SOAP-LAV", 0, 2), ("SOAP-EUC", 0, 1)]),
    (
        "d09",
        2,
        "Wholesale",
        "PO-131",
        6,
        [("CND-LAV", 2, 4), ("CND-CED", 2, 4), ("SOAP-EUC", 0, 3)],
    ),
    ("d10", 0, "Etsy", "#3102", 8, [("CND-FIG", 2, 1), ("SOAP-LAV", 0, 1)]),
    ("d11", 7, "Shopify", "#1005", 3, [("CND-LAV", 3, 2)]),
    (
        "d12",
        6,
        "Market",
        "",
        5,
        [("CND-LAV", 3, 3), ("CND-CED", 3, 3), ("CND-FIG", 3, 3), ("SOAP-LAV", 0, 2)],
    ),
    ("d13", 3, "Shopify", "#1009", 2, [("CND-FIG", 4, 1), ("SOAP-EUC", 1, 1)]),
    ("d14", 1, "Etsy", "#3127", 4, [("CND-LAV", 4, 2)]),
    (
        "d15",
        2,
        "Wholesale",
        "PO-140",
        7,
        [("CND-LAV", 4, 6), ("CND-FIG", 4, 6), ("SOAP-LAV", 1, 3)],
    ),
    ("d16", 4, "Shopify", "#1013", 3, [("BALM", 1, 2)]),
    ("d17", 6, "Market", "", 4, [("BALM", 1, 5), ("CND-FIG", 4, 3)]),
    ("d18", 5, "Etsy", "#3141", 2, [("CND-LAV", 5, 1), ("CND-FIG", 5, 1)]),
    ("d19", 0, "Etsy", "#3150", 6, [("SOAP-LAV", 2, 2), ("CND-LAV", 5, 2)]),
    ("d20", 7, "Shopify", "#1018", 5, [("SOAP-EUC", 2, 2)]),
    (
        "d21",
        6,
        "Market",
        "",
        11,
        [("CND-LAV", 5, 4), ("CND-FIG", 5, 4), ("SOAP-EUC", 2, 1), ("BALM", 1, 4)],
    ),
    ("d22", 2, "Wholesale", "PO-152", 2, [("CND-LAV", 6, 6), ("CND-FIG", 6, 6)]),
    ("d23", 3, "Shopify", "#1024", 5, [("CND-LAV", 6, 1)]),
    ("d24", 1, "Etsy", "#3166", 8, [("CND-FIG", 6, 2)]),
    ("d25", 4, "Shopify", "#1027", 10, [("CND-LAV", 6, 2), ("BALM", 1, 1)]),
]

# The dispatch that came back, days after it was sent, and why.
RETURNED = (
    "d14",
    9,
    "Came back from Spain undelivered; the jars were unopened, back on the shelf.",
)

SATURDAY = 5

Clock = Callable[[int, int, int], AbstractContextManager]


def seed(*, user, clock: Clock) -> None:
    """Each dispatch (and the return) on its day, in the order they happened, each customer
    made with their first order. `clock(days, hour, minute)` runs a block as of that moment,
    `days` from today."""
    if Dispatch.objects.filter(key__startswith=KEY).exists():
        return
    location = production_location()
    lots = _saleable_lots()
    if location is None or not lots:
        return  # not the demo workshop's batches
    today = workshop_today()
    steps: list[tuple[date, int, Callable[[], None]]] = []
    sent_on: dict[str, date] = {}
    for key, who, channel, order, after, lines in DISPATCHES:
        picked = [(lots[sku][n], q) for sku, n, q in lines if n < len(lots[sku])]
        if not picked:
            continue
        day = max(lot.received_on for lot, _ in picked) + timedelta(days=after)
        if channel == "Market":  # the stall is there on Saturdays
            day += timedelta(days=(SATURDAY - day.weekday()) % 7)
        if day >= today:
            continue
        sent_on[key] = day
        send = _send(key, CUSTOMERS[who], channel, order, picked, location, user, day)
        steps.append((day, 16, send))
    key, after, note = RETURNED
    if key in sent_on and sent_on[key] + timedelta(days=after) < today:
        steps.append((sent_on[key] + timedelta(days=after), 11, _return(key, note, user)))
    for day, hour, step in sorted(steps, key=lambda s: (s[0], s[1])):
        with clock((day - today).days, hour, 0):
            step()


def _saleable_lots() -> dict[str, list[Lot]]:
    """{variant SKU: its lots made by production, oldest first}. One query."""
    skus = {sku for *_, lines in DISPATCHES for sku, _, _ in lines}
    found = defaultdict(list)
    for lot in (
        Lot.objects.filter(
            item__sku__in=skus,
            item__kind=ItemKind.VARIANT,
            created_by_posting__kind=PostingKind.PRODUCTION,
            voided_by__isnull=True,
        )
        .select_related("item")
        .order_by("received_on", "id")
    ):
        found[lot.item.sku].append(lot)
    return found


def _customer(name, email, phone, address, notes) -> Customer:
    existing = Customer.objects.filter(name=name).first()
    if existing is not None:
        return existing
    return customer_save(name=name, email=email, phone=phone, address=address, notes=notes)


def _send(key, who, channel, order, picked, location, user, day) -> Callable[[], None]:
    def send() -> None:
        customer = _customer(*who)  # a customer since their first order
        held = dict(
            Balance.objects.filter(
                location=location, lot__in=[lot for lot, _ in picked]
            ).values_list("lot_id", "quantity")
        )
        lines = []
        for lot, quantity in picked:  # what is still on the shelf, should the batches change
            take = min(D(quantity), held.get(lot.pk, D(0)))
            held[lot.pk] = held.get(lot.pk, D(0)) - take
            if take > 0:
                lines.append(Sent(item=lot.item, quantity=take, lot=lot))
        if lines:
            dispatch_create(
                customer=customer,
                lines=lines,
                location=location,
                user=user,
                idempotency_key=f"{KEY}{key}",
                dispatched_on=day,
                channel=channel,
                order_reference=order,
            )

    return send


def _return(key, note, user) -> Callable[[], None]:
    def give_back() -> None:
        dispatch = Dispatch.objects.filter(key=f"{KEY}{key}").first()
        if dispatch is not None:
            dispatch_reverse(
                dispatch=dispatch, note=note, user=user, idempotency_key=f"{KEY}{key}-return"
            )

    return give_back
