"""Notifications: records of the audit log sent on to webhooks, Slack and Kubernetes Events."""
