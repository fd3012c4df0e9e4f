"""The route table: every operation's method and path, in one place.

Keys are the SDK call names (``"trust_groups.list"``). A path template names its placeholders
in braces; a query part (``?trustGroupIds={trustGroupIds}``) names optional query parameters,
left out when their value is ``None``. Any entry can be replaced when the client is created::

    TahdahClient(token, routes={"candidates.update": "PATCH /api/candidates/{candidateId}"})

A replacement must use the same placeholders as the entry it replaces.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote

import attrs

__all__ = ["ROUTES", "ROUTE_MARKS", "Route", "resolve_routes"]

_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _placeholders(template: str) -> tuple[str, ...]:
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not _PLACEHOLDER_NAME.match(name) or spec or conversion:
            raise ValueError(f"bad placeholder {{{name}}} in route {template!r}")
        names.append(name)
    return tuple(names)


@attrs.frozen
class Route:
    """An HTTP method and a path template (with optional query placeholders)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    """Query parameters as (wire name, placeholder) pairs."""
    _path_names: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    # The template split once into literal text and placeholder slots: building a path is on
    # every request's way.
    _pieces: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    _slots: tuple[tuple[int, str], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_path_names", _placeholders(self.path))
        pieces: list[str] = []
        slots = []
        for literal, name, _, _ in string.Formatter().parse(self.path):
            pieces.append(literal)
            if name is not None:
                slots.append((len(pieces), name))
                pieces.append("")
        object.__setattr__(self, "_pieces", tuple(pieces))
        object.__setattr__(self, "_slots", tuple(slots))

    @classmethod
    def parse(cls, spec: str) -> Route:
        """Parse ``"METHOD /path/{placeholder}[?name={placeholder}&...]"``."""
        method, _, target = spec.strip().partition(" ")
        method = method.upper()
        target = target.strip()
        if method not in _METHODS:
            raise ValueError(f"route {spec!r} must start with an HTTP method")
        if not target.startswith("/"):
            raise ValueError(f"route {spec!r} needs a path starting with '/'")
        path, _, query = target.partition("?")
        _placeholders(path)
        pairs = []
        for part in filter(None, query.split("&")):
            name, eq, value = part.partition("=")
            (placeholder,) = _placeholders(value) if eq and value.startswith("{") else ("",)
            if not name or not placeholder or value != f"{{{placeholder}}}":
                raise ValueError(f"route {spec!r}: query parts must look like name={{placeholder}}")
            pairs.append((name, placeholder))
        return cls(method, path, tuple(pairs))

    @property
    def placeholders(self) -> frozenset[str]:
        """Every placeholder the route fills, in its path and its query."""
        return frozenset(self._path_names) | {p for _, p in self.query}

    def build(self, values: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        """Return the encoded path and the query pairs for these placeholder values.

        Raises:
            TypeError, ValueError: a path value that is not a usable id, or a query value
                that is not an id or a list of ids, each without ``,`` (the list separator).
        """
        parts = list(self._pieces)
        for index, name in self._slots:
            parts[index] = _path_segment(name, values[name])
        query = (
            [
                (name, _query_value(placeholder, values[placeholder]))
                for name, placeholder in self.query
                if values.get(placeholder) is not None
            ]
            if self.query
            else []
        )
        return "".join(parts), query

    def __str__(self) -> str:
        target = self.path
        if self.query:
            target += "?" + "&".join(f"{n}={{{p}}}" for n, p in self.query)
        return f"{self.method} {target}"


_UNRESERVED: Final = frozenset(string.ascii_letters + string.digits + "-._~")
"""Characters a path segment carries as they are (RFC 3986 unreserved)."""


def _path_segment(name: str, value: Any) -> str:
    if type(value) is int:
        return str(value)  # digits and "-": nothing to check or encode
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name} must be an int or str id, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{name} must not be empty")
    if text in (".", ".."):
        # A dot segment would be resolved away and address another resource.
        raise ValueError(f"{name} must not be {text!r}")
    return text if _UNRESERVED.issuperset(text) else quote(text, safe="")


_LIST_SEPARATOR: Final = ","


def _query_value(name: str, value: Any) -> str:
    if isinstance(value, bytes | bytearray | Mapping):
        raise TypeError(f"{name} must be an id or a list of ids, got {type(value).__name__}")
    items = [value] if isinstance(value, int | str) else list(value)
    texts = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).strip():
            raise ValueError(f"{name} must hold non-empty ids, got {item!r:.40}")
        text = str(item).strip()
        if _LIST_SEPARATOR in text:
            # "1,2" would reach the server as two ids: one item must stay one value.
            raise ValueError(f"{name} item {text!r:.40} must not contain {_LIST_SEPARATOR!r}")
        texts.append(text)
    return _LIST_SEPARATOR.join(texts)


def _table(rows: Iterable[tuple[str, str, str]]) -> tuple[dict[str, Route], dict[str, str]]:
    routes, marks = {}, {}
    for name, spec, mark in rows:
        routes[name] = Route.parse(spec)
        marks[name] = mark
    return routes, marks


_LE = "/api/trustgroups/legalentities/{legalEntityId}"
_EXPERIENCE_LEARNERS = (
    "POST /api/learningexperiences/legalentities/{legalEntityId}"
    "/experiences/{experienceId}/learners"
)
_OWNER = "/api/legalentities/{legalEntityOwnerId}/legalentities"

_ROUTES, _MARKS = _table(
    [
        ("trust_groups.list", f"GET {_LE}/trustgroups", "method D, path P"),
        ("trust_groups.create", f"PUT {_LE}/trustgroup", "method D, path P"),
        ("trust_groups.update", f"POST {_LE}/trustgroup/{{trustGroupId}}", "D"),
        (
            "trust_groups.list_legal_entity_members",
            f"GET {_LE}/legalentities?trustGroupIds={{trustGroupIds}}",
            "D (query name P)",
        ),
        (
            "trust_groups.list_candidate_members",
            f"GET {_LE}/candidates?trustGroupIds={{trustGroupIds}}",
            "method D, path P",
        ),
        ("trust_groups.add_member", f"PUT {_LE}/trustgroup/{{trustGroupId}}/members", "D"),
        (
            "trust_groups.remove_member",
            f"DELETE {_LE}/trustgroup/{{trustGroupId}}/members/{{memberLegalEntityId}}",
            "method D, path P",
        ),
        ("event_credits.add", "PUT /api/eventcredits/legalentities/{legalEntityId}", "D"),
        (
            "tracker.candidate_targets",
            "GET /api/tracker/legalentities/{legalEntityId}/candidates/{candidateId}/targets",
            "method D, path P",
        ),
        (
            "tracker.legal_entity_targets",
            "GET /api/tracker/legalentities/{legalEntityId}/targets",
            "method D, path P",
        ),
        ("learning_experiences.register_learners", _EXPERIENCE_LEARNERS, "D"),
        (
            "learning_experiences.list",
            "GET /api/learningexperiences/legalentities/{legalEntityId}/experiences",
            "method D, path P",
        ),
        (
            "learning_experiences.get",
            "GET /api/learningexperiences/legalentities/{legalEntityId}/experiences/{experienceId}",
            "method D, path P",
        ),
        (
            "pathways.list",
            "GET /api/pathways/legalentities/{legalEntityId}/pathways",
            "method D, path P",
        ),
        (
            "pathways.get",
            "GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}",
            "method D, path P",
        ),
        (
            "pathways.list_registrations",
            "GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}/registrations",
            "method D, path P",
        ),
        # The newer docs' "Create Registrations" is the documented register-learners endpoint.
        ("pathways.create_registrations", _EXPERIENCE_LEARNERS, "D"),
        (
            "digital_badges.issue",
            "POST /api/digitalbadges/{legalEntityId}/templates/{badgeTemplateId}/issueBadge",
            "D (body fields P)",
        ),
        (
            "digital_badges.list_templates",
            "GET /api/digitalbadges/{legalEntityId}/templates",
            "method D, path P",
        ),
        ("legal_entities.get", f"GET {_OWNER}/{{legalEntityId}}", "method D, path P"),
        ("legal_entities.create", f"POST {_OWNER}", "D (trustGroupIds P)"),
        ("legal_entities.connect_person", f"POST {_OWNER}/{{legalEntityId}}/people", "D"),
        (
            "legal_entities.list_people",
            f"GET {_OWNER}/{{legalEntityId}}/people",
            "method D, path P",
        ),
        ("candidates.create", "POST /api/candidates", "D"),
        ("candidates.update", "PUT /api/candidates/{candidateId}", "method D, path P"),
        ("candidates.delete", "DELETE /api/candidates/{candidateId}", "method D, path P"),
        ("candidates.update_tags", "PUT /api/candidates/{candidateId}/tags", "method D, path P"),
    ]
)

ROUTES: Final[Mapping[str, Route]] = MappingProxyType(_ROUTES)
"""The default route of every operation, by SDK call name."""
ROUTE_MARKS: Final[Mapping[str, str]] = MappingProxyType(_MARKS)
"""How much of each default route the API documentation confirms (D) or we chose (P)."""


def resolve_routes(overrides: Mapping[str, str | Route] | None) -> Mapping[str, Route]:
    """Return the route table with ``overrides`` applied, after checking them.

    Raises:
        ValueError: an unknown operation name, a malformed route, or a route whose
            placeholders differ from the default's.
        TypeError: a route that is neither a string nor a :class:`Route`.
    """
    if not overrides:
        return ROUTES
    table = dict(ROUTES)
    for name, spec in overrides.items():
        if name not in ROUTES:
            hint = difflib.get_close_matches(name, ROUTES, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(f"unknown operation {name!r} in routes{suggestion}")
        if isinstance(spec, str):
            route = Route.parse(spec)
        elif isinstance(spec, Route):
            route = spec
        else:
            raise TypeError(f"route for {name!r} must be a str or Route, got {type(spec).__name__}")
        expected = ROUTES[name].placeholders
        if route.placeholders != expected:
            raise ValueError(
                f"route for {name!r} must use the placeholders {sorted(expected)}, "
                f"got {sorted(route.placeholders)}"
            )
        table[name] = route
    return MappingProxyType(table)
