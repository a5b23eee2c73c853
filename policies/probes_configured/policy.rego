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
	some [name, probe] in _missing
	msg := sprintf("%s: container %s has no %s", [kubernetes.subject, name, probe])
}

_missing contains [container.name, "readinessProbe"] if {
	some container in kubernetes.main_containers
	not container.readinessProbe
}

_missing contains [container.name, "livenessProbe"] if {
	some container in kubernetes.main_containers
	not container.livenessProbe
}
