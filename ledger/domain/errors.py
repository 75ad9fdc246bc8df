"""Errors the use cases raise; the API and the CLI shape them for their users."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RowError:
    row: int | None  # 0-based row of the feed or table at fault; None for the whole input
    field: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class LedgerError(Exception):
    """A refusal with a stable kind (the problem `type`), a title and details."""

    kind: str
    title: str
    detail: str = ""
    status: int = 400
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.title}: {self.detail}")
        if not self.error_count:
            self.error_count = len(self.errors)

    def as_problem(self) -> dict:
        body = {
            "type": f"https://chip-ledger.dev/problems/{self.kind}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
            body["error_count"] = self.error_count
        body.update(self.extra)
        return body


MAX_REPORTED_ERRORS = 100


def invalid(errors: list[RowError], total: int, what: str = "feed") -> LedgerError:
    shown = errors[:MAX_REPORTED_ERRORS]
    more = f" (first {len(shown)} shown)" if total > len(shown) else ""
    return LedgerError(
        kind="invalid-" + what,
        title=f"The {what} has invalid rows",
        detail=f"{total} fault(s){more}; nothing was written",
        status=422,
        errors=shown,
        error_count=total,
    )
