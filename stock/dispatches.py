"""Customers and dispatches: stock sent to a customer as one posting out of stock, owned by the
dispatch (docs/design.md, "Traceability"). Lines left without a lot are drawn
first-expiry-first under the ledger's lock; expired and quarantined lots are refused."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from stock.engine import Line, posting_create, run_with_retries
from stock.models import (
    Customer,
    Dispatch,
    DispatchLine,
    Item,
    ItemKind,
    Location,
    Lot,
    Posting,
    PostingKind,
    workshop_today,
)
from stock.services import postings_reverse

OWNER = "dispatches"

CUSTOMER_NAME_REQUIRED = "Give the customer a name."
NO_DISPATCH_LINES = "Add at least one line: what was sent, and how many."
NOT_SOLD = "{item} is not a product: only product variants are dispatched."
NOT_POSITIVE = "{item}: send at least one."
LOT_OF_OTHER_ITEM = "Lot {lot} is {other}, not {item}."
ALREADY_REVERSED = "{dispatch} was already reversed."
IN_THE_FUTURE = "A dispatch cannot be dated in the future."
TOO_LONG = "{field} is too long: at most {n} characters."
BAD_EMAIL = "{email} is not an email address."
OTHER_FIGURES = (
    "This form was already sent with other lines or another customer, so nothing more was "
    "sent. Reload the page to start a new dispatch."
)
NOT_POSTED = "{dispatch} took nothing out of stock: there is nothing to reverse."


@dataclass(frozen=True)
class Sent:
    """One line of a dispatch: an item, how many, and the lot (None: first expiry first)."""

    item: Item
    quantity: Decimal
    lot: Lot | None = None


def customer_save(
    *,
    customer: Customer | None = None,
    name: str,
    email: str = "",
    phone: str = "",
    address: str = "",
    notes: str = "",
) -> Customer:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": CUSTOMER_NAME_REQUIRED})
    _refuse_long(Customer, name=name, email=email.strip(), phone=phone.strip())
    if email.strip():
        try:
            validate_email(email.strip())
        except ValidationError:
            raise ValidationError({"email": BAD_EMAIL.format(email=email.strip())}) from None
    customer = customer or Customer()
    customer.name, customer.email, customer.phone = name, email.strip(), phone.strip()
    customer.address, customer.notes = address.strip(), notes.strip()
    customer.save()
    return customer


def _refuse_long(model, **values) -> None:
    """Text longer than its column: a message, not a database error."""
    errors = {}
    for name, value in values.items():
        n = model._meta.get_field(name).max_length
        if value and len(value) > n:
            errors[name] = TOO_LONG.format(field=name.replace("_", " ").capitalize(), n=n)
    if errors:
        raise ValidationError(errors)


def _same_dispatch(earlier: Dispatch, customer: Customer, lines: list[Sent]) -> bool:
    sent = sorted((line.item_id, line.quantity) for line in earlier.lines.all())
    asked = sorted((s.item.pk, s.quantity) for s in lines)
    return earlier.customer_id == customer.pk and sent == asked


def dispatch_create(
    *,
    customer: Customer,
    lines: list[Sent],
    location: Location,
    user,
    idempotency_key: str,
    dispatched_on: date | None = None,
    channel: str = "",
    order_reference: str = "",
    note: str = "",
) -> Dispatch:
    """One dispatch: its lines and one posting that takes them out of stock, all or nothing.
    The same key twice: one dispatch."""
    _check(lines, dispatched_on)
    _refuse_long(Dispatch, channel=channel.strip(), order_reference=order_reference.strip())

    @transaction.atomic
    def write() -> Dispatch:
        earlier = Dispatch.objects.filter(key=idempotency_key).first()
        if earlier is not None:
            if not _same_dispatch(earlier, customer, lines):
                raise ValidationError(OTHER_FIGURES, code="key_used")
            return earlier
        dispatch = Dispatch.objects.create(
            customer=customer,
            dispatched_on=dispatched_on or workshop_today(),
            channel=channel.strip(),
            order_reference=order_reference.strip(),
            note=note.strip(),
            key=idempotency_key,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        DispatchLine.objects.bulk_create(
            DispatchLine(dispatch=dispatch, item=s.item, quantity=s.quantity) for s in lines
        )
        result = posting_create(
            kind=PostingKind.DISPATCH,
            lines=[
                Line(location=location, quantity=-s.quantity, lot=s.lot, item=s.item) for s in lines
            ],
            user=user,
            idempotency_key=idempotency_key,
            reference=_reference(customer, channel, order_reference),
            note=note.strip(),
            owner=OWNER,
            owner_ref=str(dispatch.pk),
        )
        dispatch.posting = result.posting
        dispatch.save(update_fields=["posting"])
        return dispatch

    try:
        return run_with_retries(write)
    except IntegrityError:  # the same form, committed by a second tap at the same moment
        earlier = Dispatch.objects.filter(key=idempotency_key).first()
        if earlier is None:
            raise
        return earlier


def dispatch_create_for_new_customer(
    *, name: str, email: str = "", **dispatch
) -> tuple[Customer, Dispatch]:
    """A dispatch to a customer typed in on the dispatch form: the customer is saved in the
    same transaction, so a refused dispatch leaves no customer behind, and two taps of one
    form make one dispatch and one customer. `dispatch`: dispatch_create's other arguments."""

    @transaction.atomic
    def write() -> tuple[Customer, Dispatch]:
        earlier = Dispatch.objects.filter(key=dispatch["idempotency_key"]).first()
        if earlier is not None:  # the same form again: its customer and dispatch stand
            return earlier.customer, earlier
        customer = customer_save(name=name, email=email)
        sent = dispatch_create(customer=customer, **dispatch)
        if sent.customer_id != customer.pk:  # the form was sent already: its customer stands
            first = sent.customer  # read before the rollback is marked: no query after it
            transaction.set_rollback(True)
            return first, sent
        return customer, sent

    return run_with_retries(write)


def _check(lines: list[Sent], dispatched_on: date | None) -> None:
    if not lines:
        raise ValidationError(NO_DISPATCH_LINES)
    if dispatched_on is not None and dispatched_on > workshop_today():
        raise ValidationError(IN_THE_FUTURE)
    errors = []
    for s in lines:
        if s.item.kind != ItemKind.VARIANT:
            errors.append(NOT_SOLD.format(item=s.item.name))
        elif s.quantity <= 0:
            errors.append(NOT_POSITIVE.format(item=s.item.name))
        elif s.lot is not None and s.lot.item_id != s.item.pk:
            errors.append(LOT_OF_OTHER_ITEM.format(lot=s.lot.code, other=s.lot.item, item=s.item))
    if errors:
        raise ValidationError(errors)


def _reference(customer: Customer, channel: str, order_reference: str) -> str:
    order = " ".join(part for part in (channel.strip(), order_reference.strip()) if part)
    return f"To {customer.name}" + (f" ({order})" if order else "")


def dispatch_reverse(*, dispatch: Dispatch, note: str, user, idempotency_key: str) -> Dispatch:
    """A return or a cancelled order: the opposite posting puts the units back in the lots they
    came from, where they were sent from."""

    @transaction.atomic
    def write() -> Dispatch:
        locked = (
            Dispatch.objects.select_for_update(of=("self",))
            .select_related("posting")
            .get(pk=dispatch.pk)
        )
        if locked.posting is None:
            raise ValidationError(NOT_POSTED.format(dispatch=locked))
        earlier = Posting.objects.filter(reverses=locked.posting).first()
        if earlier is not None and earlier.idempotency_key != idempotency_key:
            raise ValidationError(ALREADY_REVERSED.format(dispatch=locked))
        postings_reverse(
            postings=[locked.posting], note=note, user=user, idempotency_key=idempotency_key
        )
        return locked

    return run_with_retries(write)
