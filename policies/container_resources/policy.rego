# METADATA
# title: Resource requests and limits
# description: Every container and init container requests CPU and memory and sets CPU and memory limits.
# custom:
#   enforcement: deny
package library.container_resources

import rego.v1

import data.library.lib.kubernetes

required := [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]]

deny contains msg if {
	some container in kubernetes.resourced_containers
	some pair in required
	not _has(container, pair[0], pair[1])
	msg := sprintf("%s: container %s sets no %s.%s", [kubernetes.subject, container.name, pair[0], pair[1]])
}

_has(container, section, resource) if {
	value := container.resources[section][resource]
	value != ""
	value != null
}
