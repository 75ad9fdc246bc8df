"""Resident state: numpy columns, dictionaries, lookups, key index, column cache. No SQL."""
