# METADATA
# title: Seccomp profile set
# description: >-
#   Pods or all their containers use the RuntimeDefault or a Localhost seccomp profile.
#   Shipped as a dry run: recorded, never blocking, until a platform team promotes it.
# custom:
#   enforcement: dryrun
package library.seccomp_runtime_default

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	kubernetes.is_workload
	not _pod_profile_ok
	some container in kubernetes.resourced_containers
	not _profile_ok(object.get(container, ["securityContext", "seccompProfile", "type"], ""))
	msg := sprintf("%s: container %s has no RuntimeDefault or Localhost seccomp profile", [kubernetes.subject, container.name])
}

_pod_profile_ok if _profile_ok(kubernetes.pod_spec.securityContext.seccompProfile.type)

_profile_ok(type) if type in {"RuntimeDefault", "Localhost"}
