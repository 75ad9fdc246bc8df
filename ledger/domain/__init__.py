"""The pure domain: schema, money, errors, feed readers, validation, entry planning. No I/O."""
