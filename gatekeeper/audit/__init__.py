"""The tamper-evident, append-only audit store (DESIGN section 8)."""
