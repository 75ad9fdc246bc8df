"""The evidence behind each flag of `/v1/compliance`: the facts the rule was decided on.

One small builder per rule kind, each reading the flagged line (its stored fields), the
rule (its params) and the chip's catalogue figures, so an officer can check a flag
without re-deriving it: the chip's TPP, die area, performance density and which band
criterion it meets for TPP rules; the product list entry for product rules; what is
missing or unreviewed for lease rules. Builders of other kinds (licences, restricted
parties) are added to EVIDENCE beside these.
"""

from __future__ import annotations

from collections.abc import Callable


def chip_figures(tpp: float, area_mm2: float) -> dict:
    """TPP, die area and performance density (TPP / mm2) as the screen compares them."""
    density = tpp / area_mm2 if area_mm2 > 0 else 0.0  # the kernel's rule: no area, density 0
    return {
        "tpp": int(round(tpp)),
        "die_area_mm2": area_mm2 if area_mm2 > 0 else None,
        "performance_density": round(density, 3),
    }


def _scope(rule: dict, line: dict, facts: dict) -> dict:
    """Which of destination and buyer HQ (or its parent's) brought the line into scope."""
    params = rule["params"]
    hq, parent = facts.get("buyer_hq"), facts.get("buyer_parent_hq")
    buyers = set(params.get("buyer_hq", []))
    return {
        "destination": line["destination"],
        "destination_in_scope": line["destination"] in set(params.get("destinations", [])),
        "buyer_hq": hq,
        "buyer_parent_hq": parent,
        "buyer_in_scope": hq in buyers or (parent is not None and parent in buyers),
    }


def _tpp(rule: dict, line: dict, facts: dict) -> dict:
    p, chip = rule["params"], facts["chip"]
    tpp, pd = chip["tpp"], chip["performance_density"]
    inf = float("inf")
    if rule["kind"] == "tpp_license":
        band = "3A090.a"
        met = (
            f"TPP {tpp} >= {p['tpp_min']:g}"
            if tpp >= p.get("tpp_min", inf)
            else f"TPP {tpp} >= {p.get('tpp_min_dense', inf):g} and "
            f"PD {pd} >= {p.get('pd_min_dense', inf):g}"
        )
    else:
        band = "3A090.b"
        in_b = p.get("tpp_min", inf) <= tpp < p.get("tpp_max", inf) and p.get(
            "pd_min", inf
        ) <= pd < p.get("pd_max", inf)
        met = (
            f"{p['tpp_min']:g} <= TPP {tpp} < {p['tpp_max']:g} and "
            f"{p['pd_min']:g} <= PD {pd} < {p['pd_max']:g}"
            if in_b
            else f"TPP {tpp} >= {p.get('tpp_min_dense', inf):g} and "
            f"{p.get('pd_min_dense', inf):g} <= PD {pd} < {p.get('pd_max', inf):g}"
        )
    thresholds = {k: p[k] for k in sorted(p) if k.startswith(("tpp_", "pd_"))}
    return {
        **chip, "band": band, "criterion": met, "thresholds": thresholds,
        "chip_origin": facts.get("chip_origin"), "license_ref": line.get("license_ref"),
        **_scope(rule, line, facts),
    }  # fmt: skip


def _product(rule: dict, line: dict, facts: dict) -> dict:
    p = rule["params"]
    out = {
        "product": line["chip_model"], "products": list(p.get("products", [])),
        "listed_from": str(rule["effective_from"]), "chip_origin": facts.get("chip_origin"),
    }  # fmt: skip
    if rule["kind"] == "product_license":
        return out | {"license_ref": line.get("license_ref"), **_scope(rule, line, facts)}
    return out | {
        "buyer_hq": facts.get("buyer_hq"),
        "exempt_buyer_hq": list(p.get("exempt_buyer_hq", [])),
    }


def lease_missing(line: dict) -> list[str]:
    """Which of owner and operator a leased line does not name."""
    return [k for k in ("owner", "operator") if not (line.get(k) or "").strip()]


def _lease(rule: dict, line: dict, facts: dict) -> dict:
    return {
        "owner": line.get("owner"), "operator": line.get("operator"),
        "missing": lease_missing(line), "identity_reviewed": bool(line.get("identity_reviewed")),
        "tpp": facts["chip"]["tpp"], "tpp_min": rule["params"].get("tpp_min"),
    }  # fmt: skip


def lease_reason(line: dict) -> str:
    chip, missing = line["chip_model"], lease_missing(line)
    if missing:
        return f"leased {chip}: {' and '.join(missing)} not named, so not reviewed"
    return f"leased {chip}: owner and operator identity not reviewed"


EVIDENCE: dict[str, Callable[[dict, dict, dict], dict]] = {
    "tpp_license": _tpp,
    "tpp_notify": _tpp,
    "product_license": _product,
    "product_caution": _product,
    "lease_identity": _lease,
}


def evidence(rule: dict, line: dict, facts: dict) -> dict:
    """The evidence object of one flag: the rule's kind builder, or just the chip figures."""
    build = EVIDENCE.get(rule["kind"])
    return build(rule, line, facts) if build else dict(facts["chip"])
