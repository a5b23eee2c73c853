"""Rego policies: engines, policy sets, Gatekeeper templates, decisions, and test runners."""
