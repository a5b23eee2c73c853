"""The dashboard's JSON API under /api/v1."""
