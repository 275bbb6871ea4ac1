"""Units of measure. Quantities are stored in their item's unit; forms accept any compatible unit.

pint does the conversions, in Decimal (never float), so 10 lb is exactly 4535.9237 g.
"""

import re
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


def display(value: Decimal) -> str:
    """A quantity as people read it: thousands grouped, up to three decimals (4,535.924), more
    only when the amount is smaller than that (0.00001 stays 0.00001, never "0")."""
    value = Decimal(value)
    rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    if rounded == 0 and value != 0:
        rounded = value
    rounded = plain(rounded)
    exponent = rounded.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{rounded:,.{places}f}"


def plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation: 2000.000 -> 2000, 1.50 -> 1.5."""
    value = value.normalize()
    exponent = value.as_tuple().exponent
    return value.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else value


PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
# Thousands groups never start with a 0: "0,500" is a decimal comma (0.5), not a grouping.
GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(,\d{3})+")
GROUPED_WITH_POINT = re.compile(r"[+-]?[1-9]\d{0,2}(,\d{3})+\.\d*")
AMBIGUOUS = "{text} could mean {thousands} or {decimal}: write it without the comma."
NOT_A_NUMBER = "Enter a number, like 250 or 1.5."


def to_decimal(text) -> Decimal:
    """Parse a number as a person types it: 250, 1.5, 1,5 (a decimal comma), 1,500.25 (grouped
    with a decimal point). "1,500" alone is refused as ambiguous: the pages show thousands with
    commas, so it could be either. No exponents ("1e3"), no words."""
    if isinstance(text, Decimal):
        return text
    raw = str(text).strip().replace(" ", "").replace("\u00a0", "")
    if GROUPED.fullmatch(raw):
        if raw.count(",") > 1:
            raise ValidationError(f"Write {text} without the commas.", code="ambiguous")
        raise ValidationError(
            AMBIGUOUS.format(
                text=text,
                thousands=raw.replace(",", ""),
                decimal=plain(Decimal(raw.replace(",", "."))),
            ),
            code="ambiguous",
        )
    if GROUPED_WITH_POINT.fullmatch(raw):
        raw = raw.replace(",", "")
    elif raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")
    if not PLAIN_NUMBER.fullmatch(raw):
        raise ValidationError(NOT_A_NUMBER, code="not_a_number")
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain numbers
        raise ValidationError(NOT_A_NUMBER, code="not_a_number") from None
