"""Postings owned by the app whose service wrote them.

A batch's postings are reversed by the batches service, which undoes the batch too; a dispatch
by its own. The owning app registers, when it starts, a label and a way to link to the thing
that owns a posting, so stock can refuse the generic reversal and point there without importing
anything above it.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PostingOwner:
    label: str  # "batch"
    url: Callable[[str], str]  # owner_ref -> the page that can reverse it


_OWNERS: dict[str, PostingOwner] = {}


def register_owner(app: str, *, label: str, url: Callable[[str], str]) -> None:
    """Called from the owning app's AppConfig.ready()."""
    _OWNERS[app] = PostingOwner(label=label, url=url)


def owner_link(posting) -> tuple[str, str | None] | None:
    """(what owns the posting, its page) for an owned posting, else None. An owner that is not
    registered (its app removed) still names itself, without a link."""
    if not posting.owner:
        return None
    owner = _OWNERS.get(posting.owner)
    if owner is None:
        return (f"{posting.owner} {posting.owner_ref}".strip(), None)
    return (f"{owner.label} {posting.owner_ref}".strip(), owner.url(posting.owner_ref))
