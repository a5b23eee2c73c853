# METADATA
# title: No privilege escalation
# description: Every container sets allowPrivilegeEscalation to false (Kubernetes defaults it to true).
# custom:
#   enforcement: deny
package library.no_privilege_escalation

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some container in kubernetes.containers
	not container.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("%s: container %s must set allowPrivilegeEscalation: false", [kubernetes.subject, container.name])
}
