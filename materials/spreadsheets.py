"""The safe CSV download moved down to stock/spreadsheets.py, so that stock's own pages (the
recall list) can use it without importing an app above them; materials keeps this name."""

from stock.spreadsheets import FORMULA_STARTS, csv_response, escape_cell

__all__ = ["FORMULA_STARTS", "csv_response", "escape_cell"]
