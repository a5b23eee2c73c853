# METADATA
# title: Capabilities dropped
# description: >-
#   Containers drop ALL capabilities and add back none except those in
#   `data.gatekeeper.config.allowed_capabilities` (default NET_BIND_SERVICE).
# custom:
#   enforcement: deny
package library.drop_capabilities

import rego.v1

import data.library.lib.kubernetes

default allowed_capabilities := ["NET_BIND_SERVICE"]

allowed_capabilities := data.gatekeeper.config.allowed_capabilities

deny contains msg if {
	some container in kubernetes.resourced_containers
	not "ALL" in object.get(container, ["securityContext", "capabilities", "drop"], [])
	msg := sprintf("%s: container %s must drop ALL capabilities", [kubernetes.subject, container.name])
}

deny contains msg if {
	some container in kubernetes.resourced_containers
	some capability in object.get(container, ["securityContext", "capabilities", "add"], [])
	not capability in allowed_capabilities
	msg := sprintf("%s: container %s adds the capability %s", [kubernetes.subject, container.name, capability])
}
