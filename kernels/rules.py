"""Export-control screening as bit masks: the rules' maths, per chip, per party, per day.

A rule flags a line when three independent factors all hold (DESIGN section 1):
  * the chip: its origin is covered, and it is in the rule's band or product list;
  * the parties: the destination or the buyer's (parent's) HQ is in scope, or,
    for a caution rule, the buyer is not exempt;
  * the line's own flags: no licence on file that covers it (the licence check's
    LICENSED / NOTIFIED bits), or a lease without identity review;
and the rule is in force on the order day. Each factor depends on one small
key (chip; entity x destination; flags; day), so `tables` evaluates it once per
key and rule into a bit set over rules, and the per-line kernel is four table
reads ANDed together: no loop over rules, no floats, no branches per line.

Rule kinds, the columns of rule_num[r] and the flag bits are named in
kernels.layout (RULE_KINDS, RULE_NUM, LEASE/REVIEWED/LICENSED/ACTIVE/NOTIFIED).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels import layout as L


@register_jitable
def chip_factor(kind, tpp, density, in_products, origin_ok, num):
    """Whether the chip (its performance, density, product, origin) is what rule r targets."""
    if not origin_ok:
        return False
    tpp_min, tpp_max, pd_min, pd_max, tpp_min_dense, pd_min_dense = (
        num[L.TPP_MIN], num[L.TPP_MAX], num[L.PD_MIN], num[L.PD_MAX], num[L.TPP_MIN_DENSE],
        num[L.PD_MIN_DENSE],
    )  # fmt: skip
    if kind == L.TPP_LICENSE:
        return tpp >= tpp_min or (tpp >= tpp_min_dense and density >= pd_min_dense)
    if kind == L.TPP_NOTIFY:
        band_b = tpp_min <= tpp < tpp_max and pd_min <= density < pd_max
        band_dense = tpp >= tpp_min_dense and pd_min_dense <= density < pd_max and tpp < tpp_max
        return band_b or band_dense
    if kind == L.PRODUCT_LICENSE or kind == L.PRODUCT_CAUTION:
        return in_products
    if kind == L.LEASE_IDENTITY:
        return tpp >= tpp_min
    return False


@register_jitable
def party_factor(kind, dest_hit, buyer_hit, exempt_buyer):
    """Whether the destination and buyer bring the line into the rule's scope."""
    if kind == L.TPP_LICENSE or kind == L.TPP_NOTIFY or kind == L.PRODUCT_LICENSE:
        return dest_hit or buyer_hit
    if kind == L.PRODUCT_CAUTION:
        return not exempt_buyer
    return kind == L.LEASE_IDENTITY


@register_jitable
def flag_factor(kind, is_lease, reviewed, licensed, notified, active):
    """Whether the line's own flags leave it flagged (only active lines ever are).

    licensed / notified come from the licence check (kernels.licences): a licence or
    exception on file that covers the line satisfies a licence rule; any licence on
    file that covers it, a notification included, satisfies a notification rule.
    """
    if not active:
        return False
    if kind == L.TPP_LICENSE or kind == L.PRODUCT_LICENSE:
        return not licensed
    if kind == L.TPP_NOTIFY:
        return not notified
    if kind == L.PRODUCT_CAUTION:
        return True
    if kind == L.LEASE_IDENTITY:
        return is_lease and not reviewed  # REVIEWED needs both parties named too
    return False


@njit(cache=True)
def tables(
    n_days, chip_tpp, chip_area, chip_origin, entity_hq, entity_parent_hq, rule_kind, rule_from,
    rule_to, rule_num, rule_dest, rule_buyer, rule_origin, rule_product, rule_exempt,
):  # fmt: skip
    """(day_bits[day], chip_bits[chip], party_bits[entity * n_dest + destination],
    flag_bits[flags]): for each key, the bit set of rules whose factor holds."""
    n_rules = rule_kind.shape[0]
    n_dest = rule_dest.shape[1]
    n_entities = entity_hq.shape[0]
    day_bits = np.zeros(n_days, np.uint64)
    chip_bits = np.zeros(chip_tpp.shape[0], np.uint64)
    party_bits = np.zeros(n_entities * n_dest, np.uint64)
    flag_bits = np.zeros(L.N_FLAG_VALUES, np.uint64)
    for r in range(n_rules):
        bit = np.uint64(1) << np.uint64(r)
        kind = rule_kind[r]
        for d in range(n_days):
            if d >= rule_from[r] and (rule_to[r] < 0 or d <= rule_to[r]):
                day_bits[d] |= bit
        for c in range(chip_tpp.shape[0]):
            tpp = chip_tpp[c]
            density = tpp / chip_area[c] if chip_area[c] > 0 else 0.0
            if chip_factor(
                kind, tpp, density, rule_product[r, c], rule_origin[r, chip_origin[c]], rule_num[r]
            ):
                chip_bits[c] |= bit
        for e in range(n_entities):
            hq = entity_hq[e]
            parent = entity_parent_hq[e]
            buyer = rule_buyer[r, hq] or (parent >= 0 and rule_buyer[r, parent])
            for dest in range(n_dest):
                if party_factor(kind, rule_dest[r, dest], buyer, rule_exempt[r, hq]):
                    party_bits[e * n_dest + dest] |= bit
        for f in range(L.N_FLAG_VALUES):
            lease, reviewed, licensed, notified = (
                (f & L.LEASE) != 0,
                (f & L.REVIEWED) != 0,
                (f & L.LICENSED) != 0,
                (f & L.NOTIFIED) != 0,
            )
            if flag_factor(kind, lease, reviewed, licensed, notified, (f & L.ACTIVE) != 0):
                flag_bits[f] |= bit
    return day_bits, chip_bits, party_bits, flag_bits


@register_jitable
def line_bits(i, chip, destination, entity, day, flags, day_bits, chip_bits, party_bits,
              flag_bits, n_dest):  # fmt: skip
    """The bit set of rules that flag entry i: four table reads."""
    return (
        day_bits[day[i]]
        & chip_bits[chip[i]]
        & party_bits[np.int64(entity[i]) * n_dest + destination[i]]
        & flag_bits[flags[i] & (L.N_FLAG_VALUES - 1)]
    )


def prepare(arrays: dict) -> dict:
    """The screen kernels' inputs: the line columns and the four tables built from the rules."""
    day = arrays["day"]
    n_days = int(day.max()) + 1 if len(day) else 1
    day_bits, chip_bits, party_bits, flag_bits = tables(
        n_days, arrays["chip_tpp"], arrays["chip_area"], arrays["chip_origin"],
        arrays["entity_hq"], arrays["entity_parent_hq"], arrays["rule_kind"],
        arrays["rule_from"], arrays["rule_to"], arrays["rule_num"], arrays["rule_dest"],
        arrays["rule_buyer"], arrays["rule_origin"], arrays["rule_product"], arrays["rule_exempt"],
    )  # fmt: skip
    return {
        "chip": arrays["chip"], "destination": arrays["destination"], "entity": arrays["entity"],
        "day": day, "flags": arrays["flags"], "day_bits": day_bits, "chip_bits": chip_bits,
        "party_bits": party_bits, "flag_bits": flag_bits,
        "n_dest": np.int64(arrays["rule_dest"].shape[1]),
    }  # fmt: skip
