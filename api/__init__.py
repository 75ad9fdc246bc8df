"""The HTTP service: thin FastAPI routes over the ledger's use cases."""
