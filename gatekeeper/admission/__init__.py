"""The admission webhook: refuses changes to Git-managed objects that do not trace to Git."""
