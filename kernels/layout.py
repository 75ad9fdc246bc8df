"""The array contract between the ledger and the kernels, by name.

Every kernel module and the ledger's column builder read these names instead of
bare numbers, so a row, bit or slot is defined in exactly one place.
Standard library only: importing it compiles nothing.
"""

from __future__ import annotations

# Rows of `codes[src, i]`: the uint16 dictionary code of each source column per entry.
ENTITY, SUPPLIER, CHIP, DESTINATION, BUDGET, WORKLOAD, ACQUISITION, CURRENCY, DAY, FY = range(10)
SOURCES = (
    "entity", "supplier", "chip_model", "destination", "budget_code", "workload",
    "acquisition", "currency", "day", "fiscal_year",
)  # fmt: skip
N_SOURCES = len(SOURCES)

# Bits of the per-entry `flags` byte. IDENTITY_MISSING: a lease that names no owner or no
# operator (accepted, and flagged by lease_identity whatever identity_reviewed says).
LEASE, REVIEWED, LICENSED, ACTIVE, IDENTITY_MISSING = 1, 2, 4, 8, 16
N_FLAG_VALUES = 32  # flags carry 5 bits: the screen's flag table has one row per value

# Export-rule kinds: `rule_kind[r]` is the index of the rule's kind in RULE_KINDS.
TPP_LICENSE, TPP_NOTIFY, PRODUCT_LICENSE, PRODUCT_CAUTION, LEASE_IDENTITY = range(5)
RULE_KINDS = ("tpp_license", "tpp_notify", "product_license", "product_caution", "lease_identity")
# Columns of `rule_num[r]`: the rule's numeric parameters (inf when a rule has none).
RULE_NUM = ("tpp_min", "tpp_max", "pd_min", "pd_max", "tpp_min_dense", "pd_min_dense")
TPP_MIN, TPP_MAX, PD_MIN, PD_MAX, TPP_MIN_DENSE, PD_MIN_DENSE = range(len(RULE_NUM))

# Width of the per-country rule masks (rule_dest, rule_buyer, rule_origin,
# rule_exempt): the ISO 3166-1 alpha-2 codes, sorted (ledger.columns.COUNTRIES).
N_COUNTRIES = 249

# Columns of the roll-up's `out[g]`: per group, the sums of ...
OUT_LINES, OUT_QUANTITY, OUT_AMOUNT, OUT_WEIGHTED = range(4)
OUT_COLUMNS = ("lines", "quantity", "amount", "weighted")  # weighted: quantity x weight
N_OUT = len(OUT_COLUMNS)

# Slots of the roll-up's `err`, filled by the kernel (callers pass zeros of ERR_SLOTS).
ERR_BAD_LINES = 0  # lines that cannot be converted (no rate, or the line itself overflows)
ERR_FIRST_BAD_DAY = 1  # the earliest order day among them (NO_BAD_DAY when none)
ERR_OUT_OF_RANGE = 2  # bit (1 << column) set for each out column with a total beyond int64
ERR_SLOTS = 3
NO_BAD_DAY = 2**62
# An out cell whose exact total does not fit in int64 reads this; err says so.
OUT_OF_RANGE = -(2**63)


def out_of_range_columns(mask: int) -> list[str]:
    """The names of the out columns whose bits are set in err[ERR_OUT_OF_RANGE]."""
    return [name for k, name in enumerate(OUT_COLUMNS) if mask >> k & 1]
