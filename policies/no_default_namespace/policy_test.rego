package library.no_default_namespace_test

import rego.v1

import data.library.no_default_namespace

deployment := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {}}

test_the_default_namespace_is_denied if {
	no_default_namespace.deny["Deployment web may not run in the default namespace"] with input as {"review": {"object": deployment, "namespace": "default"}}
}

test_no_namespace_at_all_counts_as_default if {
	count(no_default_namespace.deny) == 1 with input as {"review": {"object": deployment}}
}

test_another_namespace_passes if {
	count(no_default_namespace.deny) == 0 with input as {"review": {"object": deployment, "namespace": "shop"}}
}

test_non_workloads_may_live_in_default if {
	count(no_default_namespace.deny) == 0 with input as {"review": {"object": {"kind": "ConfigMap", "metadata": {"name": "c"}}, "namespace": "default"}}
}
