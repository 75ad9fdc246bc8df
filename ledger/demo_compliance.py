"""The compliance officer's part of the demo: licences on file and a party near a listed name.

The licences are sized from the demo's own lines: the China licence so they use ~95% of it
(state `warn`), the overseas one so they overrun it by a quarter (`exhausted`: the last
lines are flagged `licence_exhausted`). The shipped restricted-party excerpt lists Huawei,
Cambricon and Inspur, so the demo's suppliers show matches.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ledger.reference import registry
from ledger.resident import columns as C

NEAR_EXHAUSTION_SHARE = 0.95  # of the China licence's quantity the demo's lines use
OVERRUN_SHARE = 1.25  # the overseas lines ask for this much of their licence's quantity


def used_quantity(ledger, licence_id: str) -> int:
    """Units of the active lines that cite the licence (what the register would consume),
    from the resident columns: a 10M-line demo must not wait on a SQL time limit."""
    cols = ledger.cols
    code = cols.dicts["license_ref"].index.get(licence_id)
    if code is None:
        return 0
    n = cols.n
    cites = (cols.licence[:n] == code) & ((cols.flags[:n] & C.ACTIVE) != 0)
    return int(cols.quantity[:n][cites].sum(dtype=np.int64))


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
    if "licences" in registry.BY_NAME:
        rows = licence_rows(
            (cn_licence, used_quantity(ledger, cn_licence)),
            (overseas_licence, used_quantity(ledger, overseas_licence)),
        )
        ledger.load_reference("licences", json.dumps(rows).encode(), "json")
        filed["licences"] = [r["licence_id"] for r in rows]
    else:
        filed["licences"] = "not filed: no licence register in this build"
    filed["restricted_parties"] = (
        "the shipped excerpt screens the demo suppliers (Huawei, Cambricon, Inspur are listed)"
    )
    return filed
