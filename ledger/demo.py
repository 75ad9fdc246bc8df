"""A seeded demo ledger that reproduces the motivating case (DESIGN.md section 1).

Fiscal year 2025 of a large Chinese technology group: a domestic budget of
40 billion CNY, an overseas budget of 6.8 billion USD; about 60% of domestic
spend with Chinese suppliers (Huawei Ascend, Cambricon), the rest Nvidia H20,
a few of them bought through a Chinese reseller (Inspur: domestic by supplier
HQ, foreign by chip origin, the policies' default basis); domestic chips mostly
for inference; overseas chips leased in MY and SG, some without the
owner/operator identity review and a few naming no operator (accepted, and
flagged); a few lines that break export rules; licence references on the H20
lines in CN and on some overseas lines, a few of them references that are on
no licence (typed before the licence came); amendments and cancellations.
Plus FY2024 history, and daily FX rates for 2023-2025 that are SYNTHETIC (a
seeded random walk, flagged as such). Licence numbers are made up.

Lines are generated in batches of at most `batch_lines`, so 30M lines need
no more memory than one batch. Unit prices are scaled so that each segment's
FY2025 spend lands near its target whatever the number of lines.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger import demo_compliance
from ledger.ledger import Ledger

SEED = 20250101
FX_START = dt.date(2023, 1, 1)
FX_END = dt.date(2025, 12, 31)
# Base USD value of one unit, and the decimals the synthetic rates carry.
FX_BASE = {
    "CNY": (0.1380, 6), "SGD": (0.7450, 6), "MYR": (0.2200, 6), "HKD": (0.1281, 6),
    "EUR": (1.0800, 6), "JPY": (0.006700, 8), "GBP": (1.2700, 6), "KWD": (3.2500, 6),
}  # fmt: skip

ENTITIES = [
    {"entity": "Group-CN", "hq_country": "CN", "parent_hq_country": None, "fy_start_month": 1},
    {"entity": "Group-SG", "hq_country": "SG", "parent_hq_country": None, "fy_start_month": 1},
]
BUDGETS = [
    # FY2025 per the case; FY2024 history at the same scale
    ("Group-CN", "AI-DOMESTIC", 2025, "CNY", "40000000000.00", "warn"),
    ("Group-SG", "AI-OVERSEAS", 2025, "USD", "6800000000.00", "stop"),
    ("Group-CN", "AI-DOMESTIC", 2024, "CNY", "30000000000.00", "warn"),
    ("Group-SG", "AI-OVERSEAS", 2024, "USD", "5000000000.00", "stop"),
]
POLICIES = [
    {"policy": "CN-domestic-30pct-spend", "jurisdiction": "CN", "destinations": "CN",
     "metric": "spend", "min_share": "0.30", "currency": "CNY"},
    {"policy": "CN-domestic-30pct-units", "jurisdiction": "CN", "destinations": "CN",
     "metric": "units", "min_share": "0.30"},
    {"policy": "CN-domestic-30pct-tpp", "jurisdiction": "CN", "destinations": "CN",
     "metric": "tpp", "min_share": "0.30"},
    # the same minimum by the older rule (supplier HQ): the reseller's H20 count as domestic
    {"policy": "CN-domestic-30pct-spend-by-supplier", "jurisdiction": "CN",
     "destinations": "CN", "metric": "spend", "min_share": "0.30", "currency": "CNY",
     "basis": "supplier_hq"},
    # an illustrative internal target above today's share, so the demo shows a shortfall
    {"policy": "CN-internal-target-75pct-spend", "jurisdiction": "CN", "destinations": "CN",
     "metric": "spend", "min_share": "0.75", "currency": "CNY"},
]  # fmt: skip

# Segment targets of FY2025 spend, in the segment's accounting currency.
DOMESTIC_TARGET_CNY = 37_000_000_000  # ~92% of the 40bn CNY budget
# ~75% of the 6.8bn USD budget at base rates; the synthetic MYR/SGD walk lifts it to ~85%.
# The budget's action is `stop` and every feed is guarded: at a few thousand lines the
# spend varies by several percent around its target, so it keeps a margin below 100%
# (5.7bn, ~94%, reached 98.6% at 3,000 lines).
OVERSEAS_TARGET_USD = 5_100_000_000
DOMESTIC_SHARE_OF_LINES = 0.7

# (chip, supplier, list unit price, weight): domestic spend ~60% Chinese suppliers.
DOMESTIC_MIX = [
    ("Ascend 910B", "Huawei", 120_000, 0.31),
    ("Ascend 910C", "Huawei", 180_000, 0.08),
    ("MLU590", "Cambricon", 90_000, 0.11),
    ("MLU370", "Cambricon", 40_000, 0.10),
    ("H20", "Nvidia", 110_000, 0.36),
    ("H20", "Inspur", 110_000, 0.04),  # a Chinese reseller of Nvidia chips
]
OVERSEAS_MIX = [
    ("H100", "Nvidia", 25_000, 0.45),
    ("H200", "Nvidia", 32_000, 0.30),
    ("B200", "Nvidia", 40_000, 0.20),
    ("MI300X", "AMD", 15_000, 0.05),
]
# Licence numbers the lines cite (made up; ledger.demo_compliance files them when the
# ledger has a licence register), and a few references on no licence at all.
CN_LICENCE = "BIS-DEMO-2025-CN-0001"  # H20 into CN, held by Group-CN
OVERSEAS_LICENCE = "BIS-DEMO-2025-SG-0002"  # H100/H200/B200 into MY and SG, Group-SG
UNKNOWN_LICENCE_SHARE = 0.05
LESSORS = [
    ("YTL Data Centres", "MY", "MYR"),
    ("Bridge Data Centres", "MY", "MYR"),
    ("ST Telemedia Global Data Centres", "SG", "SGD"),
    ("Equinix", "SG", "USD"),
]


@dataclass
class DemoResult:
    lines: int
    feeds: int
    entries: int
    files: dict[str, str]


def fx_rates(seed: int = SEED) -> list[dict]:
    """Daily synthetic rates: a seeded random walk per currency, marked synthetic."""
    rng = np.random.default_rng(seed)
    days = (FX_END - FX_START).days + 1
    rows = []
    for code, (base, decimals) in FX_BASE.items():
        walk = base * np.exp(np.cumsum(rng.normal(0, 0.003, days)))
        for i, value in enumerate(walk):
            rows.append(
                {
                    "rate_date": (FX_START + dt.timedelta(days=i)).isoformat(),
                    "currency": code,
                    "usd_per_unit": f"{value:.{decimals}f}",
                    "synthetic": True,
                }
            )
    return rows


def load_reference(ledger: Ledger) -> None:
    ledger.load_reference("entities", json.dumps(ENTITIES).encode(), "json")
    ledger.load_reference("fx-rates", json.dumps(fx_rates()).encode(), "json")
    budgets = [
        dict(zip(["entity", "budget_code", "fiscal_year", "currency", "amount", "action"], b,
                 strict=True))
        for b in BUDGETS
    ]  # fmt: skip
    ledger.load_reference("budgets", json.dumps(budgets).encode(), "json")
    ledger.load_reference("sourcing-policies", json.dumps(POLICIES).encode(), "json")


def _price_scale(mix, target: float, lines_in_fy: float, mean_qty: float) -> float:
    weights = np.array([m[3] for m in mix])
    expected_line = float((weights * np.array([m[2] for m in mix])).sum()) * mean_qty
    return target / (expected_line * lines_in_fy)


def generate(
    n_lines: int, batch_lines: int = 1_000_000, seed: int = SEED, start_line: int = 0,
    price_lines: int | None = None,
) -> Iterator[pa.Table]:  # fmt: skip
    """Raw feed tables (the columns a sender would send) for lines [start, start+n).

    Prices are scaled for a ledger of `price_lines` lines (default n_lines).
    """
    mean_qty = 4.5  # quantity ~ uniform 1..8
    fy25_share = 0.85
    scale_n = price_lines or n_lines
    n_dom_fy = scale_n * DOMESTIC_SHARE_OF_LINES * fy25_share
    n_ovs_fy = scale_n * (1 - DOMESTIC_SHARE_OF_LINES) * fy25_share
    dom_scale = _price_scale(DOMESTIC_MIX, DOMESTIC_TARGET_CNY, max(n_dom_fy, 1), mean_qty)
    ovs_scale = _price_scale(OVERSEAS_MIX, OVERSEAS_TARGET_USD, max(n_ovs_fy, 1), mean_qty)
    fx_mid = {c: b for c, (b, _) in FX_BASE.items()} | {"USD": 1.0}
    for start in range(start_line, start_line + n_lines, batch_lines):
        n = min(batch_lines, start_line + n_lines - start)
        rng = np.random.default_rng([seed, start])
        idx = np.arange(start, start + n, dtype=np.int64)
        domestic = rng.random(n) < DOMESTIC_SHARE_OF_LINES
        fy25 = rng.random(n) < fy25_share
        day0 = np.where(fy25, (dt.date(2025, 1, 1) - dt.date(1970, 1, 1)).days,
                        (dt.date(2024, 1, 1) - dt.date(1970, 1, 1)).days)  # fmt: skip
        days = day0 + rng.integers(0, 365, n)
        quantity = rng.integers(1, 9, n)

        dom_pick = rng.choice(len(DOMESTIC_MIX), n, p=[m[3] for m in DOMESTIC_MIX])
        ovs_pick = rng.choice(len(OVERSEAS_MIX), n, p=[m[3] for m in OVERSEAS_MIX])
        chip = np.where(domestic, np.array([m[0] for m in DOMESTIC_MIX], object)[dom_pick],
                        np.array([m[0] for m in OVERSEAS_MIX], object)[ovs_pick])  # fmt: skip
        supplier = np.where(
            domestic, np.array([m[1] for m in DOMESTIC_MIX], object)[dom_pick],
            np.array([m[1] for m in OVERSEAS_MIX], object)[ovs_pick],
        )  # fmt: skip
        list_price = np.where(
            domestic, np.array([m[2] for m in DOMESTIC_MIX], float)[dom_pick] * dom_scale,
            np.array([m[2] for m in OVERSEAS_MIX], float)[ovs_pick] * ovs_scale,
        )  # fmt: skip
        lessor = rng.integers(0, len(LESSORS), n)
        destination = np.where(domestic, "CN", np.array([x[1] for x in LESSORS], object)[lessor])
        currency = np.where(domestic, "CNY", np.array([x[2] for x in LESSORS], object)[lessor])
        # a few domestic lines invoiced in HKD through a Hong Kong trading arm
        currency = np.where(domestic & (rng.random(n) < 0.02), "HKD", currency)
        usd_per_unit = np.array([fx_mid[c] for c in currency])
        seg_rate = np.where(domestic, fx_mid["CNY"], 1.0)
        # price in the line's currency, jittered, rounded to whole minor units
        price = list_price * seg_rate / usd_per_unit * rng.uniform(0.9, 1.1, n)
        price_cents = np.maximum(np.rint(price * 100), 1).astype(np.int64)
        unit_price = pc.binary_join_element_wise(
            pa.array(price_cents // 100).cast(pa.string()),
            pc.utf8_lpad(pa.array(price_cents % 100).cast(pa.string()), 2, "0"),
            ".",
        )
        inference = np.where(
            np.isin(supplier, ["Huawei", "Cambricon"]), rng.random(n) < 0.85, rng.random(n) < 0.2
        )
        lease = ~domestic
        reviewed = lease & (rng.random(n) < 0.97)  # ~3% of leases miss the identity review
        # a few licence breaches: Nvidia H100 into CN, and H20 after 2025-04-15 without licence
        breach = domestic & (rng.random(n) < 0.001)
        chip = np.where(breach, "H100", chip)
        supplier = np.where(breach, "Nvidia", supplier)
        h20 = chip == "H20"
        h20_cut = (dt.date(2025, 4, 15) - dt.date(1970, 1, 1)).days
        # after the licence requirement most H20 lines carry a licence reference
        licensed = h20 & (days >= h20_cut) & (rng.random(n) < 0.95)
        # draws below come after all earlier ones, so the lines above stay as they were
        ovs_licensed = ~domestic & np.isin(chip, ["H100", "H200", "B200"]) & (rng.random(n) < 0.2)
        unknown = rng.random(n) < UNKNOWN_LICENCE_SHARE
        no_operator = lease & (rng.random(n) < 0.01)
        refs = np.where(licensed, CN_LICENCE, np.where(ovs_licensed, OVERSEAS_LICENCE, None))
        refs = np.where((licensed | ovs_licensed) & unknown, "LIC-TBC-" + (idx % 13).astype(str),
                        refs)  # fmt: skip
        license_ref = pa.array(refs, pa.string())
        order_no = idx // 4
        yield pa.table(
            {
                "order_id": pc.binary_join_element_wise(
                    "PO", pa.array(order_no).cast(pa.string()), "-"
                ),
                "line_no": pa.array((idx % 4 + 1).astype(np.int32)),
                "entity": pa.array(np.where(domestic, "Group-CN", "Group-SG"), pa.string()),
                "order_date": pa.array(days.astype(np.int32)).cast(pa.date32()),
                "supplier": pa.array(supplier, pa.string()),
                "chip_model": pa.array(chip, pa.string()),
                "quantity": pa.array(quantity),
                "unit_price": unit_price,
                "currency": pa.array(currency, pa.string()),
                "destination": pa.array(destination, pa.string()),
                "budget_code": pa.array(
                    np.where(domestic, "AI-DOMESTIC", "AI-OVERSEAS"), pa.string()
                ),
                "workload": pa.array(np.where(inference, "inference", "training"), pa.string()),
                "acquisition": pa.array(np.where(lease, "lease", "purchase"), pa.string()),
                "owner": pa.array(
                    np.where(lease, np.array([x[0] for x in LESSORS], object)[lessor], None),
                    pa.string(),
                ),
                "operator": pa.array(
                    np.where(
                        lease & ~no_operator,
                        np.array([x[0] for x in LESSORS], object)[lessor],
                        None,
                    ),
                    pa.string(),
                ),  # fmt: skip
                "identity_reviewed": pa.array(reviewed),
                "license_ref": license_ref,
            }
        )


def amendments(lines: pa.Table, seed: int = SEED) -> pa.Table:
    """Revision 1 of ~1% of the given lines (quantity changed) and ~0.5% cancelled."""
    rng = np.random.default_rng([seed, 7])
    n = lines.num_rows
    pick = rng.random(n)
    revise = pick < 0.01
    cancel = (pick >= 0.01) & (pick < 0.015)
    chosen = lines.filter(pa.array(revise | cancel))
    k = chosen.num_rows
    was_cancel = cancel[revise | cancel]
    qty = chosen["quantity"].to_numpy() + 1
    chosen = chosen.set_column(chosen.schema.get_field_index("quantity"), "quantity", pa.array(qty))
    chosen = chosen.append_column("revision", pa.array(np.ones(k, np.int32)))
    return chosen.append_column(
        "status", pa.array(np.where(was_cancel, "cancelled", "open"), pa.string())
    )


def build(
    ledger: Ledger,
    n_lines: int = 1_000_000,
    batch_lines: int = 1_000_000,
    feeds_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Fill an empty ledger with the demo: reference data, the lines, amendments, sample files."""
    load_reference(ledger)
    feeds = 0
    first_batch = None
    for i, table in enumerate(generate(n_lines, batch_lines)):
        ledger.ingest_table(table, feed_id=f"demo-{n_lines}-batch-{i}")
        feeds += 1
        if first_batch is None:
            first_batch = table
        if progress:
            progress(table.num_rows)
    if first_batch is not None:
        ledger.ingest_table(amendments(first_batch), feed_id=f"demo-{n_lines}-amendments")
        feeds += 1
    demo_compliance.load(ledger, CN_LICENCE, OVERSEAS_LICENCE)
    files = write_sample_feeds(feeds_dir, price_lines=n_lines) if feeds_dir else {}
    return DemoResult(n_lines, feeds, ledger.entry_count(), files)


def write_sample_feeds(
    folder: str | Path, lines: int = 200, price_lines: int = 1_000_000
) -> dict[str, str]:
    """Small feeds of new lines in every format, for trying ingest by hand."""
    import pyarrow.csv as pacsv
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    # order numbers far above the demo's so that the samples are new lines
    for k, fmt in enumerate(["csv", "json", "ndjson", "arrow", "parquet"]):
        table = next(
            generate(lines, lines, SEED + 1 + k, 10**12 + k * lines, price_lines=price_lines)
        )
        path = folder / f"sample-{fmt}.{'arrow' if fmt == 'arrow' else fmt}"
        if fmt == "csv":
            pacsv.write_csv(table, path)
        elif fmt == "json":
            path.write_text(json.dumps(_jsonable(table), indent=1))
        elif fmt == "ndjson":
            path.write_text("".join(json.dumps(r) + "\n" for r in _jsonable(table)))
        elif fmt == "arrow":
            with ipc.new_stream(path, table.schema) as w:
                w.write_table(table)
        else:
            pq.write_table(table, path)
        written[fmt] = str(path)
    return written


def _jsonable(table: pa.Table) -> list[dict]:
    rows = table.to_pylist()
    for r in rows:
        r["order_date"] = r["order_date"].isoformat()
        r["unit_price"] = str(Decimal(r["unit_price"]))
    return rows
