# METADATA
# title: No host namespaces
# description: Pods may not share the node's network, PID or IPC namespace.
# custom:
#   enforcement: deny
package library.no_host_namespaces

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	some field in _shared
	msg := sprintf("%s: %s is not allowed", [kubernetes.subject, field])
}

_shared contains "hostNetwork" if kubernetes.pod_spec.hostNetwork == true

_shared contains "hostPID" if kubernetes.pod_spec.hostPID == true

_shared contains "hostIPC" if kubernetes.pod_spec.hostIPC == true
