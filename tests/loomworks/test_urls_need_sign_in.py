"""Every page needs a signed-in person: walk the URL resolver, so a new page is covered too."""

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import UUIDConverter
from django.urls.resolvers import RegexPattern, RoutePattern

OPEN_PATHS = {"/healthz", "/sign-in/"}


def _sample_for_group(body: str) -> str:
    for candidate in ("1", "x", "auth", ""):
        if re.fullmatch(body, candidate):
            return candidate
    raise AssertionError(f"no sample value fits the URL regex group {body!r}")


def _fill(pattern) -> str:
    """A concrete path segment for a pattern, with dummy values for its parameters."""
    if isinstance(pattern, RoutePattern):
        converters = pattern.converters

        def replace(match):
            name = match.group(2)
            if isinstance(converters.get(name), UUIDConverter):
                return str(uuid.UUID(int=1))
            return "1"  # int, str, slug and path all accept it

        return re.sub(r"<(?:(\w+):)?(\w+)>", replace, str(pattern._route))
    assert isinstance(pattern, RegexPattern), f"unknown pattern type {pattern!r}"
    regex = pattern._regex
    filled = re.sub(r"\(\?P<\w+>([^()]*)\)", lambda m: _sample_for_group(m.group(1)), regex)
    filled = filled.lstrip("^").rstrip("$")
    return re.sub(r"\\(.)", r"\1", filled)


def _all_paths(resolver=None, prefix="/"):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        here = prefix + _fill(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _all_paths(entry, here)
        else:
            assert isinstance(entry, URLPattern)
            yield here, entry


ALL_PATHS = sorted({path for path, _ in _all_paths()})


def test_the_walk_finds_the_pages_we_know_about():
    assert {"/", "/people/", "/people/1/role/", "/admin/", "/admin/auth/user/1/change/"} <= set(
        ALL_PATHS
    )
    for path in ALL_PATHS:
        resolve(path)  # every generated path is a real address, not a 404


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p for p in ALL_PATHS if p not in OPEN_PATHS])
def test_an_anonymous_visitor_is_sent_to_sign_in_and_then_back(client, path):
    response = client.get(path, follow=True)
    assert response.redirect_chain, f"{path} answered {response.status_code} without sign-in"
    final = urlsplit(response.redirect_chain[-1][0])
    assert final.path == "/sign-in/", response.redirect_chain
    # ...with the page asked for to return to (the admin's own login page returns to the admin).
    expected = "/admin/" if path == "/admin/login/" else path
    assert parse_qs(final.query)["next"] == [expected]
    assert response.status_code == 200
    assert "Sign in to Loomworks" in response.text


@pytest.mark.django_db
def test_health_and_sign_in_answer_without_signing_in(client):
    assert client.get("/healthz").status_code == 200
    response = client.get("/sign-in/")
    assert response.status_code == 200
    assert b"Sign in to Loomworks" in response.content
