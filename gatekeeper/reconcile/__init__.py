"""The reconciler: Git commits that pass provenance and policy reach the cluster, audited."""
