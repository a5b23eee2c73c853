# METADATA
# title: Resource requests and limits
# description: Every container and init container requests CPU and memory and sets CPU and memory limits.
# custom:
#   enforcement: deny
package library.container_resources

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some [name, field] in _missing
	msg := sprintf("%s: container %s sets no %s", [kubernetes.subject, name, field])
}

# Spelled out field by field: static references evaluate much faster than computed keys.
_missing contains [container.name, "requests.cpu"] if {
	some container in kubernetes.resourced_containers
	not container.resources.requests.cpu
}

_missing contains [container.name, "requests.memory"] if {
	some container in kubernetes.resourced_containers
	not container.resources.requests.memory
}

_missing contains [container.name, "limits.cpu"] if {
	some container in kubernetes.resourced_containers
	not container.resources.limits.cpu
}

_missing contains [container.name, "limits.memory"] if {
	some container in kubernetes.resourced_containers
	not container.resources.limits.memory
}
