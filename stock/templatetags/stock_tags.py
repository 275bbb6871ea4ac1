"""Display filters for quantities and money: sensible precision, no float on the way."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from django import template

from stock.models import current_workshop
from stock.units import display, plain

register = template.Library()


def _grouped(value: Decimal, places: int) -> str:
    return f"{value:,.{places}f}"


@register.filter
def qty(value):
    """A quantity with up to 3 decimals and thousands grouping: 4,535.924 / 12 / 0.5."""
    if value in (None, ""):
        return "—"
    try:
        return display(Decimal(value))
    except (InvalidOperation, TypeError, ValueError):
        return value


@register.filter
def signed_qty(value):
    text = qty(value)
    return f"+{text}" if value is not None and Decimal(value) > 0 else text


@register.filter
def signed_percent(value):
    """A percentage as it was rounded, with its sign: +4.1 %, -2.0 %, 0.0 %."""
    if value in (None, ""):
        return "—"
    return f"{'+' if Decimal(value) > 0 else ''}{value} %"


@register.filter
def money(value):
    """An amount in the workshop's currency, to the cent. Worked in a context wide enough for
    any sum the ledger can hold (10^12 units at 10^13 each, many times over)."""
    if value in (None, ""):
        return "—"
    with localcontext(prec=80):
        amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return f"{current_workshop().currency} {_grouped(amount, 2)}"


UNIT_COST_FIGURES = 5


@register.filter
def unit_cost(value):
    """A unit cost a maker can compare: from 1 up, to the cent like money; below 1, five
    significant figures (wax at 0.0070548 per gram, not 0.0071), never fewer than 2 decimals."""
    if value in (None, ""):
        return "—"
    value = Decimal(value)
    small = 0 < value < 1
    places = max(2, UNIT_COST_FIGURES - 1 - value.adjusted()) if small else 2
    rounded = plain(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    exponent = rounded.as_tuple().exponent
    shown = max(2, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{current_workshop().currency} {_grouped(rounded, shown)}"


@register.filter
def person(user):
    """Who made a posting: their name, or "system" for seeds and imports."""
    if user is None:
        return "system"
    return user.get_full_name() or user.get_username()
