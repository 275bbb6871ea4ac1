"""The ledger's numbers: column sizes, decimal places and the largest values it accepts.

One definition, used by the models, the posting engine, forms, imports and display filters.
"""

from decimal import Decimal

QUANTITY = {"max_digits": 18, "decimal_places": 6}
MONEY = {"max_digits": 18, "decimal_places": 6}
# A unit cost keeps ten places: wax at 0.0018337 per gram, times a tonne, must still add up.
COST = {"max_digits": 24, "decimal_places": 10}
# An allocated or lost value: a quantity times a unit cost, kept to the unit cost's places.
VALUE = {"max_digits": 30, "decimal_places": 10}

QUANTITY_PLACES = QUANTITY["decimal_places"]
COST_PLACES = COST["decimal_places"]

QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)  # 0.000001
COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)  # 0.0000000001
CENT = Decimal("0.01")

MAX_QUANTITY = Decimal(10) ** 12  # a quantity, in its item's unit, is below this
MAX_COST = Decimal(10) ** 13  # a unit cost is below this
MAX_AMOUNT = Decimal(10) ** 12  # a price or a shipping amount is below this
MAX_VALUE = Decimal(10) ** 20  # an allocated or lost value is below this (VALUE's digits)

# An uploaded CSV file (materials, recipe lines, orders): its size and its rows under the header.
CSV_MAX_BYTES = 1024 * 1024
CSV_MAX_ROWS = 5000


def is_id(text) -> bool:
    """Whether `text` is a row id as a form or URL may carry one: plain ASCII digits, short
    enough for the database ("²" is a digit to Python, not to int())."""
    text = str(text or "")
    return text.isascii() and text.isdigit() and len(text) <= 18
