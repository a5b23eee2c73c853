# METADATA
# title: No hostPath volumes
# custom:
#   enforcement: deny
package library.no_host_path

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some volume in kubernetes.pod_spec.volumes
	volume.hostPath
	msg := sprintf("%s: volume %s mounts the host path %s", [kubernetes.subject, volume.name, volume.hostPath.path])
}
