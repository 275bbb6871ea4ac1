"""Units of measure. Quantities are stored in their item's unit; forms accept any compatible unit.

pint does the conversions, in Decimal (never float), so 10 lb is exactly 4535.9237 g.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pint
from django.core.exceptions import ValidationError
from django.db import models

_registry = pint.UnitRegistry(non_int_type=Decimal)


class Unit(models.TextChoices):
    G = "g", "g"
    KG = "kg", "kg"
    OZ = "oz", "oz"
    LB = "lb", "lb"
    ML = "ml", "ml"
    L = "l", "l"
    FL_OZ = "fl oz", "fl oz"
    EACH = "each", "each"
    M = "m", "m"
    CM = "cm", "cm"
    MM = "mm", "mm"


# Our unit names, in pint's words.
_PINT_NAMES = {
    Unit.G: "gram",
    Unit.KG: "kilogram",
    Unit.OZ: "avoirdupois_ounce",
    Unit.LB: "avoirdupois_pound",
    Unit.ML: "milliliter",
    Unit.L: "liter",
    Unit.FL_OZ: "US_fluid_ounce",
    Unit.EACH: "count",
    Unit.M: "meter",
    Unit.CM: "centimeter",
    Unit.MM: "millimeter",
}

INCOMPATIBLE_UNITS = "{item} is counted in {unit}: a quantity in {given} cannot be converted."
UNKNOWN_UNIT = "Unknown unit {given!r}. Use one of: {choices}."


def _pint_unit(unit: str):
    try:
        return _registry.Unit(_PINT_NAMES[Unit(unit)])
    except (ValueError, KeyError):
        raise ValidationError(
            UNKNOWN_UNIT.format(given=unit, choices=", ".join(Unit.values)), code="unknown_unit"
        ) from None


def parse_unit(text: str) -> str:
    """A unit as a maker may type it ("G", " fl oz", "floz", "pcs") -> our unit name."""
    word = " ".join(text.strip().lower().replace(".", "").split())
    aliases = {"floz": "fl oz", "fl_oz": "fl oz", "pcs": "each", "pc": "each", "ea": "each"}
    word = aliases.get(word, word)
    if word not in Unit.values:
        raise ValidationError(
            UNKNOWN_UNIT.format(given=text, choices=", ".join(Unit.values)), code="unknown_unit"
        )
    return word


def are_compatible(a: str, b: str) -> bool:
    return _pint_unit(a).dimensionality == _pint_unit(b).dimensionality


def compatible_units(unit: str) -> list[str]:
    """Every unit a quantity of `unit` may be entered in, `unit` first."""
    return [unit] + [u for u in Unit.values if u != unit and are_compatible(u, unit)]


PLACES = Decimal("0.000001")  # the ledger keeps six decimal places


def convert(quantity: Decimal, from_unit: str, to_unit: str, *, item_name: str = "This item"):
    """`quantity` in `from_unit`, expressed in `to_unit`, as a Decimal rounded to the ledger's
    six places (1 oz = 28.349523 g): exact factors from pint, no float on the way."""
    if from_unit == to_unit:
        return quantity
    if not are_compatible(from_unit, to_unit):
        raise ValidationError(
            INCOMPATIBLE_UNITS.format(item=item_name, unit=to_unit, given=from_unit),
            code="incompatible_unit",
        )
    result = _registry.Quantity(quantity, _pint_unit(from_unit)).to(_pint_unit(to_unit)).magnitude
    return plain(Decimal(result).quantize(PLACES, rounding=ROUND_HALF_UP))


def plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation: 2000.000 -> 2000, 1.50 -> 1.5."""
    value = value.normalize()
    exponent = value.as_tuple().exponent
    return value.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else value


def to_decimal(text) -> Decimal:
    """Parse a number a person typed ("1,5" is one and a half); raise ValidationError if not one."""
    if isinstance(text, Decimal):
        return text
    raw = str(text).strip().replace(" ", "")
    if raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValidationError(f"{text!r} is not a number.", code="not_a_number") from None
    if not value.is_finite():
        raise ValidationError(f"{text!r} is not a number.", code="not_a_number")
    return value
