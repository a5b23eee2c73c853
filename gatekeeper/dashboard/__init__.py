"""The auditors' dashboard: a report API and web page of its own process (DESIGN section 11)."""
