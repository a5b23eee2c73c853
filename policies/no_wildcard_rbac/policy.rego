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
	some index, rule in kubernetes.object.rules
	some field in ["verbs", "resources", "apiGroups"]
	"*" in rule[field]
	msg := sprintf("%s: rule %d grants \"*\" in %s", [kubernetes.subject, index, field])
}
