# METADATA
# title: No wildcard RBAC
# description: Roles and ClusterRoles name their verbs, resources and API groups; no "*".
# custom:
#   enforcement: deny
package library.no_wildcard_rbac

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	kubernetes.kind in {"Role", "ClusterRole"}
	some [index, field] in _wildcards
	msg := sprintf("%s: rule %d grants \"*\" in %s", [kubernetes.subject, index, field])
}

_wildcards contains [index, "verbs"] if {
	some index, rule in kubernetes.object.rules
	"*" in rule.verbs
}

_wildcards contains [index, "resources"] if {
	some index, rule in kubernetes.object.rules
	"*" in rule.resources
}

_wildcards contains [index, "apiGroups"] if {
	some index, rule in kubernetes.object.rules
	"*" in rule.apiGroups
}
