"""`gatekeeper demo`: the end-to-end scenario on the local control plane and embedded defaults."""
