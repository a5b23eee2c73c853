package library.no_wildcard_rbac_test

import rego.v1

import data.library.no_wildcard_rbac

role(rules) := {"review": {"object": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "ops"}, "rules": rules}}}

test_wildcard_verbs_are_denied if {
	no_wildcard_rbac.deny["ClusterRole ops: rule 0 grants \"*\" in verbs"] with input as role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])
}

test_every_wildcard_field_is_reported if {
	count(no_wildcard_rbac.deny) == 3 with input as role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
}

test_named_permissions_pass if {
	count(no_wildcard_rbac.deny) == 0 with input as role([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}])
}

test_a_listed_cluster_role_may_use_wildcards if {
	count(no_wildcard_rbac.deny) == 0 with input as role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
		with data.gatekeeper.config.wildcard_rbac_allowed as ["ops"]
}

test_the_list_names_cluster_roles_and_namespaced_roles_apart if {
	count(no_wildcard_rbac.deny) == 3 with input as role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
		with data.gatekeeper.config.wildcard_rbac_allowed as ["other", "team/ops"]
	local := {"review": {"object": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ops", "namespace": "team"}, "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]}}}
	count(no_wildcard_rbac.deny) == 0 with input as local
		with data.gatekeeper.config.wildcard_rbac_allowed as ["team/ops"]
}
