"""The webhook's HTTP surface: routers and their dependencies."""
