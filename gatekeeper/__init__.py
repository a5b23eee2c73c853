"""GitOps Gatekeeper: signed, policy-compliant Git changes only, and every step audited."""

__version__ = "0.1.0"
