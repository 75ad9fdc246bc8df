"""Ending a failed write transaction, and naming the failures a client can act on."""

from __future__ import annotations

import duckdb

from ledger.domain.errors import LedgerError

# How the OS says a file cannot grow (ENOSPC, EFBIG under RLIMIT_FSIZE, EDQUOT), as
# DuckDB passes it on in its IO and commit errors.
_OUT_OF_SPACE = ("no space left on device", "file too large", "disk quota exceeded")


def rollback(con, error: BaseException) -> LedgerError | None:
    """Roll back a failed write; a write the disk could not take becomes a 507.

    A failed COMMIT has already ended the transaction (ROLLBACK would then raise
    and hide the cause), so a ROLLBACK refused for that reason is not an error.
    """
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException as e:
        if "no transaction is active" not in str(e):
            raise
    if isinstance(error, duckdb.Error) and any(m in str(error).lower() for m in _OUT_OF_SPACE):
        return LedgerError(
            "insufficient-storage", "The ledger's disk is full",
            f"nothing was written ({str(error).splitlines()[0][:300]}); "
            "send it again once space is freed", 507,
        )  # fmt: skip
    return None
