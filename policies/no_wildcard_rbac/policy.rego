# METADATA
# title: No wildcard RBAC
# description: >-
#   Roles and ClusterRoles name their verbs, resources and API groups; no "*". Roles listed in
#   `data.gatekeeper.config.wildcard_rbac_allowed` are let through: a ClusterRole by its name,
#   a Role as NAMESPACE/NAME (the gatekeeper's chart lists its reconciler's ClusterRole, which
#   must apply any kind).
# custom:
#   enforcement: deny
package library.no_wildcard_rbac

import rego.v1

import data.library.lib.kubernetes

default allowed := []

allowed := data.gatekeeper.config.wildcard_rbac_allowed

_name := kubernetes.name if kubernetes.kind == "ClusterRole"

_name := sprintf("%s/%s", [kubernetes.namespace, kubernetes.name]) if kubernetes.kind == "Role"

deny contains msg if {
	kubernetes.kind in {"Role", "ClusterRole"}
	not _name in allowed
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
