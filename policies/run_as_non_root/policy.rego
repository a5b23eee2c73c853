# METADATA
# title: Containers run as non-root
# description: >-
#   runAsNonRoot must be true for every container, set on the container or inherited from
#   the pod; runAsUser 0 is refused either way.
# custom:
#   enforcement: deny
package library.run_as_non_root

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some container in kubernetes.containers
	not _non_root(container)
	msg := sprintf("%s: container %s must set runAsNonRoot: true (or inherit it from the pod)", [kubernetes.subject, container.name])
}

deny contains msg if {
	some container in kubernetes.containers
	_user(container) == 0
	msg := sprintf("%s: container %s runs as user 0", [kubernetes.subject, container.name])
}

_non_root(container) if container.securityContext.runAsNonRoot == true

_non_root(container) if {
	not _container_sets_non_root(container)
	kubernetes.pod_spec.securityContext.runAsNonRoot == true
}

_container_sets_non_root(container) if {
	_ = container.securityContext.runAsNonRoot
}

_user(container) := container.securityContext.runAsUser

_user(container) := kubernetes.pod_spec.securityContext.runAsUser if {
	not _container_sets_user(container)
}

_container_sets_user(container) if {
	_ = container.securityContext.runAsUser
}
