# METADATA
# title: No host namespaces
# description: Pods may not share the node's network, PID or IPC namespace.
# custom:
#   enforcement: deny
package library.no_host_namespaces

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	kubernetes.pod_spec[field] == true
	msg := sprintf("%s: %s is not allowed", [kubernetes.subject, field])
}
