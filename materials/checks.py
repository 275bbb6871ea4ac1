"""check_ledger's checks for deliveries: registered with stock when the app starts."""

from django.db import connection

# Deliveries whose lines' shipping shares do not add up to the delivery's shipping.
SHIPPING_SQL = """
SELECT r.id, r.shipping, COALESCE(SUM(l.shipping_share), 0)
FROM materials_receipt r LEFT JOIN materials_receiptline l ON l.receipt_id = r.id
GROUP BY r.id, r.shipping
HAVING ABS(r.shipping - COALESCE(SUM(l.shipping_share), 0)) >= 0.005
ORDER BY r.id LIMIT %s
"""


def shipping_shares_add_up(limit: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(SHIPPING_SQL, [limit])
        rows = cursor.fetchall()
    return [
        f"Delivery #{receipt_id}: shipping {shipping:.2f}, but its lines' shares add up to "
        f"{shares:.2f}."
        for receipt_id, shipping, shares in rows
    ]
