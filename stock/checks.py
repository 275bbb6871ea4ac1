"""Ledger invariants, checked over the whole database in a few set-based queries."""

from django.db import connection
from django.db.models import Count

from stock.models import Balance, Lot, Movement, Posting

# Every (lot, location) where the cached balance and the sum of movements disagree,
# including movements with no balance row and balance rows with no movements.
DRIFT_SQL = """
SELECT COALESCE(b.lot_id, m.lot_id), COALESCE(b.location_id, m.location_id),
       b.quantity, m.total
FROM stock_balance b
FULL OUTER JOIN (
    SELECT lot_id, location_id, SUM(quantity) AS total
    FROM stock_movement GROUP BY lot_id, location_id
) m ON m.lot_id = b.lot_id AND m.location_id = b.location_id
WHERE COALESCE(b.quantity, 0) <> COALESCE(m.total, 0)
ORDER BY 1, 2
LIMIT %s
"""


def ledger_violations(limit: int = 1000) -> list[str]:
    """Every broken rule, as a readable line. An empty list means the ledger is sound."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(DRIFT_SQL, [limit])
        drift = cursor.fetchall()
    if drift:
        lots = Lot.objects.select_related("item").in_bulk({row[0] for row in drift})
        for lot_id, location_id, balance, total in drift:
            lot = lots[lot_id]
            problems.append(
                f"{lot.item.name} lot {lot.code} at location #{location_id}: balance "
                f"{balance if balance is not None else 'missing'}, movements sum to {total or 0}."
            )
    negative = Balance.objects.filter(quantity__lt=0).select_related("lot__item", "location")
    for b in negative[:limit]:
        problems.append(
            f"{b.lot.item.name} lot {b.lot.code} at {b.location.name} is negative: {b.quantity}."
        )
    for p in Posting.objects.annotate(n=Count("movements")).filter(n=0)[:limit]:
        problems.append(f"{p} has no movements.")
    for lot in Lot.objects.filter(unit_cost__lt=0).select_related("item")[:limit]:
        problems.append(f"{lot.item.name} lot {lot.code} has a negative unit cost {lot.unit_cost}.")
    for m in Movement.objects.filter(unit_cost__lt=0)[:limit]:
        problems.append(f"Movement #{m.pk} has a negative unit cost {m.unit_cost}.")
    return problems


def ledger_summary() -> dict:
    return {
        "postings": Posting.objects.count(),
        "movements": Movement.objects.count(),
        "lots": Lot.objects.count(),
        "balances": Balance.objects.count(),
    }
