"""Reading an uploaded CSV file, for every import (materials, recipe lines, orders).

`read_upload` turns the uploaded bytes into text (size, encoding, a byte-order mark) and
`read_records` the text into a header and numbered rows (the delimiter, the row limit), each
refusing with a message a maker can act on. What the columns mean is each import's own business.
"""

import csv
import io
import re
import secrets
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404

from stock.limits import CSV_MAX_BYTES, CSV_MAX_ROWS

ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
DAY_FIRST_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")

FILE_EMPTY = "The file is empty: save your sheet as CSV with a header row and the rows under it."
FILE_TOO_LARGE = "The file is {size}; the limit is 1 MB. Split it into smaller files."
FILE_NOT_UTF8 = (
    "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8” and upload that."
)
FILE_IS_WORKBOOK = (
    "This is a spreadsheet workbook, not a CSV file. Save it as “CSV UTF-8” and upload that."
)
FILE_UNREADABLE = "The file cannot be read as CSV: {error}."
TOO_MANY_ROWS = (
    "The file has {count:,} rows of {what}; the limit is {limit:,}. Split it into smaller files."
)


def read_upload(upload) -> str:
    """The text of an uploaded file, or a ValidationError that says what is wrong with it."""
    if upload.size > CSV_MAX_BYTES:
        raise ValidationError(FILE_TOO_LARGE.format(size=_megabytes(upload.size)), code="too_large")
    return decode_text(upload.read(CSV_MAX_BYTES + 1))


def decode_text(data: bytes) -> str:
    """UTF-8, with or without a byte-order mark. Anything else is refused rather than guessed:
    a name read in the wrong encoding would be stored wrong without anyone noticing."""
    if len(data) > CSV_MAX_BYTES:
        raise ValidationError(FILE_TOO_LARGE.format(size=_megabytes(len(data))), code="too_large")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ValidationError(FILE_IS_WORKBOOK, code="workbook")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(FILE_NOT_UTF8, code="not_utf8") from None
    if not text.strip():
        raise ValidationError(FILE_EMPTY, code="empty")
    if "\x00" in text:
        raise ValidationError(FILE_NOT_UTF8, code="not_utf8")
    return text


def _megabytes(size: int) -> str:
    return f"{Decimal(size) / (1024 * 1024):.1f} MB"


def read_records(text: str, *, what: str) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The header's cells (None for a file of empty lines) and every non-empty row under it as
    (its row number in the spreadsheet, its cells). Commas, semicolons or tabs, whichever the
    first line has most of. More than CSV_MAX_ROWS rows of `what` are refused, with their count."""
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = None
    records = []
    try:
        for number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = cells
                continue
            records.append((number, cells))
            if len(records) > CSV_MAX_ROWS:
                # Count the rest without keeping them: the message says how many there are.
                extra = sum(1 for cells in reader if any(cell.strip() for cell in cells))
                raise ValidationError(
                    TOO_MANY_ROWS.format(count=len(records) + extra, what=what, limit=CSV_MAX_ROWS),
                    code="too_many_rows",
                )
    except csv.Error as exc:
        raise ValidationError(FILE_UNREADABLE.format(error=exc), code="unreadable") from None
    return header, records


def column_name(cell: str) -> str:
    """ "Lot tracked", "lot-tracked" and "LOT_TRACKED" are one column."""
    return "_".join(cell.strip().lower().replace("-", " ").replace("_", " ").split())


def read_date(text: str) -> date | None:
    """A date as the imports' own columns take it: YYYY-MM-DD or DD/MM/YYYY; None if not."""
    if m := ISO_DATE.fullmatch(text):
        year, month, day = m.groups()
    elif m := DAY_FIRST_DATE.fullmatch(text):
        day, month, year = m.groups()
    else:
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


# The pages of an import: its example file, and the upload waiting in the session -----------


def example_file_response(path):
    """An import's example file, as a download."""
    if not path.exists():  # pragma: no cover - shipped with the code
        raise Http404("The example file is missing")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=path.name,
        content_type="text/csv; charset=utf-8",
    )


def pending_upload(request, key: str, token: str) -> dict | None:
    """The upload kept in the session under `key` for its preview, if `token` is its own."""
    pending = request.session.get(key)
    if pending and secrets.compare_digest(pending["token"], token):
        return pending
    return None
