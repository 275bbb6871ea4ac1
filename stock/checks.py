"""Ledger invariants, checked over the whole database in a few set-based queries.

Apps above stock add checks of their own (a delivery's shipping shares) with `register_check`
when they start; stock imports none of them.
"""

from collections.abc import Callable

from django.db import connection
from django.db.models import Count

from stock.models import Balance, Lot, Movement, Posting

# Every (lot, location) where the cached balance and the sum of movements disagree,
# including movements with no balance row and balance rows with no movements. Comparisons
# allow for half the last place: exact on PostgreSQL, and SQLite (make run) sums decimals as
# floating point.
DRIFT_SQL = """
SELECT COALESCE(b.lot_id, m.lot_id), COALESCE(b.location_id, m.location_id),
       b.quantity, m.total
FROM stock_balance b
FULL OUTER JOIN (
    SELECT lot_id, location_id, SUM(quantity) AS total
    FROM stock_movement GROUP BY lot_id, location_id
) m ON m.lot_id = b.lot_id AND m.location_id = b.location_id
WHERE ABS(COALESCE(b.quantity, 0) - COALESCE(m.total, 0)) > 0.0000005
ORDER BY 1, 2
LIMIT %s
"""

# Movements whose unit cost is not their lot's: a lot's cost was edited after it was posted.
COST_DRIFT_SQL = """
SELECT m.id, l.code, i.name, m.unit_cost, l.unit_cost
FROM stock_movement m JOIN stock_lot l ON l.id = m.lot_id JOIN stock_item i ON i.id = l.item_id
WHERE m.unit_cost <> l.unit_cost
ORDER BY m.id LIMIT %s
"""

# Lots whose creating posting has no incoming movement of them.
UNBORN_SQL = """
SELECT l.code, i.name, l.created_by_posting_id
FROM stock_lot l JOIN stock_item i ON i.id = l.item_id
WHERE NOT EXISTS (
    SELECT 1 FROM stock_movement m
    WHERE m.lot_id = l.id AND m.posting_id = l.created_by_posting_id AND m.quantity > 0
)
ORDER BY l.id LIMIT %s
"""

# Production postings whose inputs' cost differs from their outputs' value plus their losses'
# value by a cent or more: something was created or lost in the books.
PRODUCTION_BALANCE_SQL = """
SELECT p.id, COALESCE(inp.cost, 0), COALESCE(outp.value, 0), COALESCE(lost.value, 0)
FROM stock_posting p
LEFT JOIN (
    SELECT posting_id, SUM(-quantity * unit_cost) AS cost
    FROM stock_movement WHERE quantity < 0 GROUP BY posting_id
) inp ON inp.posting_id = p.id
LEFT JOIN (
    SELECT a.posting_id, SUM(a.cost) AS value FROM stock_allocation a GROUP BY a.posting_id
) outp ON outp.posting_id = p.id
LEFT JOIN (
    SELECT posting_id, SUM(value) AS value FROM stock_loss GROUP BY posting_id
) lost ON lost.posting_id = p.id
WHERE p.kind = 'production'
  AND ABS(COALESCE(inp.cost, 0) - COALESCE(outp.value, 0) - COALESCE(lost.value, 0)) >= 0.01
ORDER BY p.id LIMIT %s
"""

# Output lots of production whose unit cost is not their allocated value over their quantity.
OUTPUT_COST_SQL = """
SELECT l.code, i.name, l.unit_cost, a.value / m.quantity
FROM stock_lot l
JOIN stock_item i ON i.id = l.item_id
JOIN stock_posting p ON p.id = l.created_by_posting_id AND p.kind = 'production'
JOIN stock_movement m ON m.lot_id = l.id AND m.posting_id = p.id AND m.quantity > 0
JOIN (SELECT output_lot_id, SUM(cost) AS value FROM stock_allocation GROUP BY output_lot_id) a
  ON a.output_lot_id = l.id
WHERE ABS(l.unit_cost - a.value / m.quantity) > 0.00000000005 * (1 + ABS(l.unit_cost))
ORDER BY l.id LIMIT %s
"""

_EXTRA_CHECKS: list[Callable[[int], list[str]]] = []


def register_check(check: Callable[[int], list[str]]) -> None:
    """Add a check (limit -> readable problems) that check_ledger runs with its own."""
    if check not in _EXTRA_CHECKS:
        _EXTRA_CHECKS.append(check)


def _rows(sql: str, limit: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return cursor.fetchall()


def ledger_violations(limit: int = 1000) -> list[str]:
    """Every broken rule, as a readable line. An empty list means the ledger is sound."""
    problems = []
    drift = _rows(DRIFT_SQL, limit)
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
    for movement_id, code, name, moved_at, now in _rows(COST_DRIFT_SQL, limit):
        problems.append(
            f"{name} lot {code}: movement #{movement_id} was posted at a unit cost of {moved_at}, "
            f"the lot now says {now}."
        )
    for code, name, posting_id in _rows(UNBORN_SQL, limit):
        problems.append(
            f"{name} lot {code}: posting #{posting_id}, which made it, has no movement into it."
        )
    for posting_id, cost, value, lost in _rows(PRODUCTION_BALANCE_SQL, limit):
        problems.append(
            f"Production #{posting_id}: its inputs cost {cost:.2f}, but its outputs are worth "
            f"{value:.2f} and its losses {lost:.2f}."
        )
    for code, name, unit_cost, allocated in _rows(OUTPUT_COST_SQL, limit):
        problems.append(
            f"{name} lot {code}: unit cost {unit_cost}, but its allocated value over its "
            f"quantity is {allocated:.10f}."
        )
    for check in _EXTRA_CHECKS:
        problems += check(limit)
    return problems


def ledger_summary() -> dict:
    return {
        "postings": Posting.objects.count(),
        "movements": Movement.objects.count(),
        "lots": Lot.objects.count(),
        "balances": Balance.objects.count(),
    }
