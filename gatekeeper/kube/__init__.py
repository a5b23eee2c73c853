"""The Kubernetes vocabulary shared by the webhook and the reconciler, and the one client."""
