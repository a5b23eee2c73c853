# METADATA
# title: Readiness and liveness probes
# description: Containers of long-running workloads declare both probes; reported as a warning.
# custom:
#   enforcement: warn
package library.probes_configured

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	kubernetes.is_long_running
	some container in kubernetes.main_containers
	some probe in ["readinessProbe", "livenessProbe"]
	not container[probe]
	msg := sprintf("%s: container %s has no %s", [kubernetes.subject, container.name, probe])
}
