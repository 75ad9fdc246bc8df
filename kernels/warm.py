"""Run every kernel once on tiny inputs, so compilation (or the cache load) happens at start."""

from __future__ import annotations

import numpy as np


def run(backend: str) -> None:
    from kernels import dispatch

    n = 8
    codes = np.zeros((10, n), np.uint16)
    one = np.ones((1, 1, 1), np.int64)
    # the CPU roll-up is compiled per number of grouping/filter sources: the usual 1 to 4
    for n_terms in range(1, 5):
        dispatch.rollup(
            codes=codes, term_src=np.arange(n_terms, dtype=np.int64),
            term_tab=np.zeros((n_terms, 1), np.int32), weight_src=np.int64(0),
            weight_tab=np.zeros(1, np.int64), group_target=np.zeros(1, np.int64), day=codes[8],
            currency=codes[7], amount=np.ones(n, np.int64), quantity=np.ones(n, np.int32),
            lines=np.ones(n, np.int8), num=one, den=one, ratio=np.ones((1, 1, 1)), fast_max=one,
            fixed_day=np.int64(-1), day0=np.int64(0), out=np.zeros((1, 4), np.int64),
            err=np.zeros(2, np.int64), which=backend,
        )  # fmt: skip
    dispatch.screen(
        chip=codes[2], destination=codes[3], entity=codes[0], day=codes[8],
        flags=np.zeros(n, np.uint8), chip_tpp=np.zeros(1), chip_area=np.ones(1),
        chip_origin=np.zeros(1, np.int32), entity_hq=np.zeros(1, np.int32),
        entity_parent_hq=np.full(1, -1, np.int32), rule_kind=np.zeros(1, np.int64),
        rule_from=np.zeros(1, np.int64), rule_to=np.full(1, -1, np.int64),
        rule_num=np.zeros((1, 6)), rule_dest=np.zeros((1, 249), np.bool_),
        rule_buyer=np.zeros((1, 249), np.bool_), rule_origin=np.zeros((1, 249), np.bool_),
        rule_product=np.zeros((1, 1), np.bool_), rule_exempt=np.zeros((1, 249), np.bool_),
        out=np.zeros(n, np.uint64), which=backend,
    )  # fmt: skip
    dispatch.read_floor((np.zeros(n, np.uint64),), np.zeros(1, np.uint64))
    from kernels.text import to_lines

    to_lines(b'[{"a": 1}]', True)
