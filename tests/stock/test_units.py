from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from stock.units import compatible_units, convert, display, parse_unit, to_decimal


@pytest.mark.parametrize(
    "quantity, unit, target, expected",
    [
        ("10", "lb", "g", "4535.9237"),
        ("1", "oz", "g", "28.349523"),
        ("1", "fl oz", "ml", "29.57353"),
        ("2.5", "kg", "g", "2500"),
        ("1", "l", "ml", "1000"),
        ("150", "cm", "m", "1.5"),
    ],
)
def test_units_convert_to_six_places_and_round_trip(quantity, unit, target, expected):
    there = convert(D(quantity), unit, target)
    assert there == D(expected)
    assert convert(there, target, unit) == D(quantity)


def test_grams_cannot_become_pieces():
    with pytest.raises(ValidationError) as err:
        convert(D("5"), "g", "each", item_name="Amber jar")
    assert err.value.messages == [
        "Amber jar is counted in each: a quantity in g cannot be converted."
    ]


def test_a_mass_can_be_entered_in_any_mass_unit_and_nothing_else():
    assert compatible_units("g") == ["g", "kg", "oz", "lb"]
    assert compatible_units("each") == ["each"]


@pytest.mark.parametrize("typed, unit", [("G", "g"), (" fl oz ", "fl oz"), ("floz", "fl oz")])
def test_units_are_understood_as_makers_type_them(typed, unit):
    assert parse_unit(typed) == unit


def test_an_unknown_unit_lists_the_ones_that_exist():
    with pytest.raises(ValidationError) as err:
        parse_unit("stone")
    assert "Unknown unit 'stone'. Use one of: g, kg" in err.value.messages[0]


@pytest.mark.parametrize(
    "typed, value",
    [("250", "250"), ("1.5", "1.5"), ("1,5", "1.5"), ("1,500.25", "1500.25"), (" .5 ", "0.5")],
)
def test_numbers_are_read_as_makers_type_them(typed, value):
    assert to_decimal(typed) == D(value)


@pytest.mark.parametrize(
    "typed, message",
    [
        ("1,500", "1,500 could mean 1500 or 1.5: write it without the comma."),
        ("1e3", "Enter a number, like 250 or 1.5."),
        ("ten", "Enter a number, like 250 or 1.5."),
        ("NaN", "Enter a number, like 250 or 1.5."),
    ],
)
def test_ambiguous_or_strange_numbers_are_refused(typed, message):
    with pytest.raises(ValidationError) as err:
        to_decimal(typed)
    assert err.value.messages == [message]


@pytest.mark.parametrize(
    "value, shown",
    [("4535.9237", "4,535.924"), ("0.00001", "0.00001"), ("1500", "1,500"), ("-2.50", "-2.5")],
)
def test_quantities_are_shown_readably_and_never_as_zero_when_they_are_not(value, shown):
    assert display(D(value)) == shown
