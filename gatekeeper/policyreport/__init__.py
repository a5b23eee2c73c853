"""PolicyReports: the policies' results on each object, as wgpolicyk8s.io/v1alpha2 objects."""
