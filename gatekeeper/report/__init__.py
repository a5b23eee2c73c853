"""Compliance reports built from the audit store, in JSON, CSV, HTML and PDF."""
