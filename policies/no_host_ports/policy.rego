# METADATA
# title: No host ports
# custom:
#   enforcement: deny
package library.no_host_ports

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some container in kubernetes.containers
	some port in container.ports
	port.hostPort > 0
	msg := sprintf("%s: container %s binds host port %d", [kubernetes.subject, container.name, port.hostPort])
}
