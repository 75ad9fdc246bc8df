"""Budget status, sourcing ratios and export screening: the use case (kernels over resident
columns) against the best DuckDB SQL we could write for the identical answer.

The SQL is generated from the same reference tables the use cases read (policies
and rules are data), converts lines like `bench.rollup` (float fast path, exact
128-bit fallback) and needs `bench.rollup.prepare(cur)` first. Each method's
answer is checked equal to the use case's before its time counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bench.timing import interleave, must_equal, summary
from ledger.domain.money import format_minor

CONVERT = "bench_half_even(e.amount_minor * c.ratio, e.amount_minor, c.num, c.den)"

BUDGETS_SQL = f"""
SELECT b.entity, b.budget_code, b.fiscal_year, coalesce(s.committed, 0)::BIGINT
FROM budgets b LEFT JOIN (
    SELECT e.entity, e.budget_code, e.fiscal_year, sum({CONVERT}) AS committed
    FROM line_entries e
    JOIN budgets b USING (entity, budget_code, fiscal_year)
    JOIN bench_cells c
      ON c.target = b.currency AND c.currency = e.currency AND c.rate_date = e.order_date
    GROUP BY ALL) s USING (entity, budget_code, fiscal_year)
"""


def _quote(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _in_list(column: str, values) -> str:
    values = list(values or [])
    if not values:
        return "false"
    return f"{column} IN ({', '.join(_quote(v) for v in values)})"


# -- budgets -------------------------------------------------------------


def budgets_kernel(q) -> dict:
    return {
        (r["entity"], r["budget_code"], r["fiscal_year"]): r["committed_minor"]
        for r in q.budgets()["rows"]
    }


def budgets_sql(cur) -> dict:
    return {(e, c, fy): v for e, c, fy, v in cur.execute(BUDGETS_SQL).fetchall()}


# -- sourcing ------------------------------------------------------------


def sourcing_sql_text(cur) -> str:
    """One scan per policy (as the use case runs one kernel pass per policy), in one query."""
    policies = cur.execute(
        "SELECT policy, jurisdiction, destinations, metric, entity, fiscal_year, currency, "
        "basis FROM sourcing_policies ORDER BY policy"
    ).fetchall()
    parts = []
    for (
        policy,
        jurisdiction,
        destinations,
        metric,
        entity,
        fiscal_year,
        currency,
        basis,
    ) in policies:
        where = ["true"]
        if destinations != "*":
            where.append(_in_list("e.destination", destinations.split(",")))
        if entity:
            where.append(f"e.entity = {_quote(entity)}")
        if fiscal_year:
            where.append(f"e.fiscal_year = {int(fiscal_year)}")
        # domestic by the chip's origin (the default basis) or the supplier's HQ
        joins = "LEFT JOIN suppliers s ON s.supplier = e.supplier"
        joins += " LEFT JOIN chips ch ON ch.chip_model = e.chip_model"
        if metric == "spend":
            value = CONVERT
            joins += (
                f" JOIN bench_cells c ON c.target = {_quote(currency)} "
                "AND c.currency = e.currency AND c.rate_date = e.order_date"
            )
        elif metric == "units":
            value = "e.quantity"
        else:
            value = "e.quantity * coalesce(ch.tpp, 0)"
        country = "s.hq_country" if basis == "supplier_hq" else "ch.origin_country"
        dom = f"coalesce({country} = {_quote(jurisdiction)}, false)"
        parts.append(
            f"""SELECT {_quote(policy)} AS policy, e.entity, e.fiscal_year,
                coalesce(sum(e.lines) FILTER (WHERE {dom}), 0)::BIGINT,
                coalesce(sum(e.lines) FILTER (WHERE NOT {dom}), 0)::BIGINT,
                coalesce(sum(e.quantity) FILTER (WHERE {dom}), 0)::BIGINT,
                coalesce(sum(e.quantity) FILTER (WHERE NOT {dom}), 0)::BIGINT,
                coalesce(sum({value}) FILTER (WHERE {dom}), 0)::BIGINT,
                coalesce(sum({value}), 0)::BIGINT
            FROM line_entries e {joins} WHERE {" AND ".join(where)} GROUP BY ALL"""
        )
    return "\nUNION ALL\n".join(parts) or "SELECT NULL WHERE false"


def sourcing_kernel(q) -> dict:
    return {
        (r["policy"], r["entity"], r["fiscal_year"]): (r["domestic"], r["total"])
        for r in q.sourcing()["rows"]
    }


def sourcing_sql(cur, text: str) -> dict:
    metric_currency = {
        p: (m, c)
        for p, m, c in cur.execute(
            "SELECT policy, metric, currency FROM sourcing_policies"
        ).fetchall()
    }
    rows = {}
    for policy, entity, fy, dl, fl, dq, fq, dom, total in cur.execute(text).fetchall():
        if dl == 0 and fl == 0 and dq == 0 and fq == 0:
            continue  # the use case leaves out groups with no lines
        metric, currency = metric_currency[policy]
        rows[(policy, entity, fy)] = tuple(
            format_minor(v, currency) if metric == "spend" else str(v) for v in (dom, total)
        )
    return rows


# -- screening -----------------------------------------------------------

_INF = "CAST('inf' AS DOUBLE)"


def _num(params: dict, key: str) -> str:
    value = params.get(key)
    return _INF if value is None else repr(float(value))


def _rule_predicate(rule: dict) -> str:
    """The SQL twin of kernels.rules (the three factors) for one rule, over the active lines `a`."""
    p = json.loads(rule["params"]) if isinstance(rule["params"], str) else rule["params"]
    when = [f"a.order_date >= DATE '{rule['effective_from']}'"]
    if rule["effective_to"] is not None:
        when.append(f"a.order_date <= DATE '{rule['effective_to']}'")
    when.append(_in_list("a.origin_country", p.get("origins")))
    buyers = p.get("buyer_hq")
    scoped = (
        f"({_in_list('a.destination', p.get('destinations'))} "
        f"OR {_in_list('en.hq_country', buyers)} "
        f"OR coalesce({_in_list('en.parent_hq_country', buyers)}, false))"
    )
    products = _in_list("a.chip_model", p.get("products"))
    tpp, pd = "a.tpp", "a.density"
    kind = rule["kind"]
    if kind == "tpp_license":
        test = (
            f"{scoped} AND ({tpp} >= {_num(p, 'tpp_min')} OR ({tpp} >= "
            f"{_num(p, 'tpp_min_dense')} AND {pd} >= {_num(p, 'pd_min_dense')})) "
            "AND NOT a.licensed"
        )
    elif kind == "tpp_notify":
        band_b = (
            f"({_num(p, 'tpp_min')} <= {tpp} AND {tpp} < {_num(p, 'tpp_max')} AND "
            f"{_num(p, 'pd_min')} <= {pd} AND {pd} < {_num(p, 'pd_max')})"
        )
        band_dense = (
            f"({tpp} >= {_num(p, 'tpp_min_dense')} AND {_num(p, 'pd_min_dense')} <= {pd} AND "
            f"{pd} < {_num(p, 'pd_max')} AND {tpp} < {_num(p, 'tpp_max')})"
        )
        test = f"{scoped} AND ({band_b} OR {band_dense}) AND NOT a.notified"
    elif kind == "product_license":
        test = f"{scoped} AND {products} AND NOT a.licensed"
    elif kind == "product_caution":
        exempt = _in_list("en.hq_country", p.get("exempt_buyer_hq"))
        test = f"{products} AND NOT coalesce({exempt}, false)"
    elif kind == "lease_identity":
        test = f"a.lease AND {tpp} >= {_num(p, 'tpp_min')} AND NOT a.reviewed"
    else:
        test = "false"
    return f"coalesce({' AND '.join(when)} AND {test}, false)"


# The licence check (kernels.licences) over the current lines `cur`: a line naming a licence
# on file, valid on its order date and in scope, consumes it in order of order date, then
# entry; it is covered while the running totals through it are within the caps plus overrun.
LICENCE_CHECK_SQL = f"""
    lic_run AS (
        SELECT e.entry_seq, l.kind, l.max_quantity, l.max_value_minor,
               CAST(l.overrun_pct * 10000 AS BIGINT) AS pct_e4, c.num IS NOT NULL AS known,
               sum(e.quantity) OVER w AS run_q,
               sum(coalesce({CONVERT}, 0)) OVER w AS run_v
        FROM cur e JOIN licences l ON l.licence_id = e.license_ref
        LEFT JOIN bench_cells c
          ON c.target = l.currency AND c.currency = e.currency AND c.rate_date = e.order_date
        WHERE e.order_date >= l.valid_from
          AND (l.valid_to IS NULL OR e.order_date <= l.valid_to)
          AND e.entity = l.holder
          AND (l.chips = '*' OR list_contains(string_split(l.chips, ','), e.chip_model))
          AND (l.destinations = '*'
               OR list_contains(string_split(l.destinations, ','), e.destination))
        WINDOW w AS (PARTITION BY l.licence_id ORDER BY e.order_date, e.entry_seq
                     ROWS UNBOUNDED PRECEDING)),
    lic AS (
        SELECT entry_seq, kind, known
            AND (max_quantity IS NULL OR CAST(run_q AS HUGEINT) * 1000000
                 <= CAST(max_quantity AS HUGEINT) * (1000000 + pct_e4))
            AND (max_value_minor IS NULL OR CAST(run_v AS HUGEINT) * 1000000
                 <= CAST(max_value_minor AS HUGEINT) * (1000000 + pct_e4)) AS covered
        FROM lic_run)"""


def screening_sql_text(cur) -> str:
    """Counts of active lines flagged per rule, in one scan (rules ordered as the use case)."""
    cols = ["rule_id", "kind", "effective_from", "effective_to", "params"]
    rules = [
        dict(zip(cols, r, strict=True))
        for r in cur.execute(
            f"SELECT {', '.join(cols)} FROM export_rules ORDER BY rule_id"
        ).fetchall()
    ]
    counts = ",\n".join(
        f"count(*) FILTER (WHERE {_rule_predicate(r)}) AS {_ident(r['rule_id'])}" for r in rules
    )
    return f"""
    WITH cur AS (
        SELECT e.* FROM line_entries e
        WHERE e.entry_kind = 'line'
        QUALIFY e.status = 'open'
            AND e.entry_seq = max(e.entry_seq) OVER (PARTITION BY e.order_id, e.line_no)),
    {LICENCE_CHECK_SQL},
    a AS (
        SELECT e.chip_model, e.destination, e.entity, e.order_date,
               e.acquisition = 'lease' AS lease,
               -- a lease naming no owner or operator cannot have been reviewed
               e.identity_reviewed AND coalesce(trim(e.owner), '') <> ''
               AND coalesce(trim(e.operator), '') <> '' AS reviewed,
               coalesce(lic.covered AND lic.kind <> 'notification', false) AS licensed,
               coalesce(lic.covered, false) AS notified, ch.origin_country,
               CAST(coalesce(ch.tpp, 0) AS DOUBLE) AS tpp,
               CASE WHEN ch.die_area_mm2 > 0 THEN ch.tpp / ch.die_area_mm2 ELSE 0.0 END
               AS density
        FROM cur e LEFT JOIN chips ch ON ch.chip_model = e.chip_model
        LEFT JOIN lic ON lic.entry_seq = e.entry_seq)
    SELECT {counts or "count(*) FILTER (WHERE false)"}
    FROM a LEFT JOIN entities en ON en.entity = a.entity
    """


def screening_kernel(q) -> dict:
    """Lines flagged per export rule (restricted-party matches are name matching, not rule
    screening: the SQL twin has no counterpart, so they are left out of the comparison)."""
    counts = q.compliance(limit=0)["counts"]
    return {c["rule_id"]: c["lines"] for c in counts if c["kind"] != "restricted_party"}


def screening_sql(cur, text: str) -> dict:
    cursor = cur.execute(text)
    names = [d[0] for d in cursor.description]
    row = cursor.fetchall()[0]
    return {name: int(v) for name, v in zip(names, row, strict=True) if name}


# -- all three -----------------------------------------------------------


def _measure(
    q, kernel: Callable[[], dict], sql: Callable[[], dict], runs: int, observer: str,
    what: str, sql_text: str,
) -> dict:  # fmt: skip
    kernel_only: list[float] = []
    calls: list[float] = []  # the kernel calls of one use-case call (sourcing: one per policy)

    def observe(name: str, seconds: float) -> None:
        if name == observer:
            calls.append(seconds * 1000)

    def use_case(_round: int) -> dict:
        calls.clear()
        result = kernel()
        kernel_only.append(sum(calls))
        return result

    want = kernel()
    q.observers.append(observe)
    try:
        timed = interleave(
            {"kernel_ms": use_case, "duckdb_ms": lambda r: sql()},
            runs,
            must_equal(want, what),
        )
    finally:
        q.observers.remove(observe)
    return {
        **timed,
        "kernel_only_ms": summary(kernel_only[1:] or kernel_only),
        "duckdb_query": " ".join(sql_text.split()),
        "rows": len(want),
    }


def measure(q, cur, runs: int) -> dict:
    """{"budgets", "sourcing", "screening"}: use case against SQL, interleaved per use case."""
    sourcing_text = sourcing_sql_text(cur)
    screening_text = screening_sql_text(cur)
    return {
        "budgets": _measure(
            q, lambda: budgets_kernel(q), lambda: budgets_sql(cur), runs, "budgets",
            "budget status", BUDGETS_SQL,
        ),
        "sourcing": _measure(
            q, lambda: sourcing_kernel(q), lambda: sourcing_sql(cur, sourcing_text), runs,
            "sourcing", "sourcing ratios", sourcing_text,
        ),
        "screening": _measure(
            q, lambda: screening_kernel(q), lambda: screening_sql(cur, screening_text), runs,
            "screen", "export screening", screening_text,
        ),
    }  # fmt: skip
