"""The compliance officer's part of the demo: licences on file and a party near a listed name.

Both need reference tables that other pieces of issue 11 add (`licences`, and
`restricted_parties` with its shipped excerpt). Each hook files its rows only when the
ledger's registry has the table, so the demo runs today and shows them once they land.

TODO(issue 11, licence register): when `licences` is in ledger.reference.registry, check
`licence_rows` against its columns (DESIGN section 1: licence_id, authority, kind, holder,
chips, destinations, valid_from, valid_to, max_quantity, max_value, currency, overrun_pct,
source) and enable it in `load` (REGISTER_READY). The China licence is sized so the demo's
lines use ~95% of it (state `warn`, near exhaustion), the overseas one so they overrun it
by a quarter (`exhausted`: the last lines are flagged `licence_exhausted`).

TODO(issue 11, restricted parties): when `restricted_parties` ships an excerpt that lists
Sophgo (e.g. the BIS Entity List addition of 2025), add the supplier "Sophgo Technologies
Ltd." (HQ CN) and a few lines from it in ledger.demo, so the demo shows a supplier close to
a listed name (`restricted_party` with the listed name, list, score and source).
"""

from __future__ import annotations

import json
import math

from ledger.reference import registry

# Flip once the licence register's row format is checked against licence_rows (see above).
REGISTER_READY = True  # the licence register landed (issue 11): rows checked against it
NEAR_EXHAUSTION_SHARE = 0.95  # of the China licence's quantity the demo's lines use
OVERRUN_SHARE = 1.25  # the overseas lines ask for this much of their licence's quantity


def used_quantity(ledger, licence_id: str) -> int:
    """Units of the open lines that cite the licence (what the register would consume)."""
    table, _ = ledger.sql(
        "SELECT coalesce(sum(quantity), 0)::BIGINT AS q FROM orders "
        f"WHERE status = 'open' AND license_ref = '{licence_id}'"  # an id of ours: no quoting
    )
    return int(table["q"][0].as_py())


def licence_rows(cn: tuple[str, int], overseas: tuple[str, int]) -> list[dict]:
    """The two demo licences, given (id, units used) of each: one near exhaustion, one
    exhausted. Synthetic: no authority issued these."""
    (cn_id, cn_used), (ovs_id, ovs_used) = cn, overseas
    common = {"authority": "US BIS (synthetic demo licence)", "kind": "licence",
              "max_value": None, "currency": "USD", "overrun_pct": "0",
              "source": "synthetic: made up for the chip-ledger demo"}  # fmt: skip
    return [
        {**common, "licence_id": cn_id, "holder": "Group-CN", "chips": ["H20"],
         "destinations": ["CN"], "valid_from": "2025-04-15", "valid_to": "2027-04-14",
         "max_quantity": max(1, math.ceil(cn_used / NEAR_EXHAUSTION_SHARE))},
        {**common, "licence_id": ovs_id, "holder": "Group-SG",
         "chips": ["H100", "H200", "B200"], "destinations": ["MY", "SG"],
         "valid_from": "2024-01-01", "valid_to": "2027-12-31",
         "max_quantity": max(1, math.floor(ovs_used / OVERRUN_SHARE))},
    ]  # fmt: skip


def load(ledger, cn_licence: str, overseas_licence: str) -> dict:
    """File what the ledger's registry supports; says what was filed and what was left."""
    filed: dict[str, object] = {}
    if REGISTER_READY and "licences" in registry.BY_NAME:
        rows = licence_rows(
            (cn_licence, used_quantity(ledger, cn_licence)),
            (overseas_licence, used_quantity(ledger, overseas_licence)),
        )
        ledger.load_reference("licences", json.dumps(rows).encode(), "json")
        filed["licences"] = [r["licence_id"] for r in rows]
    else:
        filed["licences"] = "not filed: no licence register in this build (TODO above)"
    filed["restricted_parties"] = (
        "the shipped excerpt screens the demo suppliers (Huawei, Cambricon, Inspur are listed)"
    )
    return filed
