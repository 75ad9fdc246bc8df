"""Query parameters a route does not declare are refused, not ignored.

A compliance officer who writes `/v1/compliance?entity=Group-SG` must not get every
entity's lines without a word: each route answers 422 for a parameter it does not know
(naming it, and the ones it does), and for a single-valued one sent twice (which value
would count?). Routes that take more than their signature shows (GET /v1/totals: any
dimension as a filter) declare those in `openapi_extra["parameters"]`.
"""

from __future__ import annotations

import types
from typing import Union, get_args, get_origin

from fastapi import Request

from ledger.domain.errors import LedgerError, RowError

_CACHED = "_chip_ledger_query_params"  # on the route object: (names, repeatable names)


def _is_list(annotation) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (Union, types.UnionType):
        return any(_is_list(a) for a in get_args(annotation))
    return False


def _fields(dependant) -> list:
    fields = list(dependant.query_params)
    for sub in dependant.dependencies:
        fields += _fields(sub)
    return fields


def _route_params(route) -> tuple[frozenset[str], frozenset[str]]:
    """(every query parameter name, the repeatable ones) the route declares."""
    known = getattr(route, _CACHED, None)  # kept on the route: an id could be reused
    if known is None:
        fields = _fields(route.dependant)
        extra = [
            p for p in (route.openapi_extra or {}).get("parameters", []) if p.get("in") == "query"
        ]
        names = {f.alias for f in fields} | {p["name"] for p in extra}
        lists = {f.alias for f in fields if _is_list(f.field_info.annotation)}
        lists |= {p["name"] for p in extra if p.get("schema", {}).get("type") == "array"}
        known = (frozenset(names), frozenset(lists))
        setattr(route, _CACHED, known)
    return known


def known_query_parameters(request: Request) -> None:
    """The route's dependency: 422 for an unknown or a repeated single-valued parameter."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    names, lists = _route_params(route)
    seen: dict[str, int] = {}
    for key, _ in request.query_params.multi_items():
        seen[key] = seen.get(key, 0) + 1
    unknown = sorted(k for k in seen if k not in names)
    repeated = sorted(k for k, n in seen.items() if n > 1 and k in names and k not in lists)
    if not unknown and not repeated:
        return
    errors = [RowError(None, k, f"unknown query parameter {k!r}") for k in unknown]
    errors += [RowError(None, k, f"{k!r} takes one value; it was sent {seen[k]} times")
               for k in repeated]  # fmt: skip
    known = ", ".join(sorted(names)) or "none"
    raise LedgerError(
        "invalid-request", "Unknown or repeated query parameter",
        f"{'; '.join(e.message for e in errors)}; this route takes: {known}", 422, errors=errors,
    )  # fmt: skip
