"""The store: the only duckdb importer and the only place that writes SQL."""
