# METADATA
# title: Read-only root filesystem
# description: Containers should mount their root filesystem read-only; reported as a warning.
# custom:
#   enforcement: warn
package library.read_only_root_filesystem

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some container in kubernetes.resourced_containers
	not container.securityContext.readOnlyRootFilesystem == true
	msg := sprintf("%s: container %s should set readOnlyRootFilesystem: true", [kubernetes.subject, container.name])
}
