# METADATA
# title: No privileged containers
# custom:
#   enforcement: deny
package library.no_privileged

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some container in kubernetes.containers
	container.securityContext.privileged == true
	msg := sprintf("%s: container %s runs privileged", [kubernetes.subject, container.name])
}
