"""chip-ledger: an exact, append-only ledger of AI-accelerator purchase orders."""

__version__ = "0.1.0"
