"""The read use cases over the resident columns: totals, budgets, sourcing, compliance."""
