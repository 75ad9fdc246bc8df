"""The `chip-ledger` command line: the only code that formats for a terminal."""
