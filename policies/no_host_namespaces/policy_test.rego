package library.no_host_namespaces_test

import rego.v1

import data.library.no_host_namespaces

pod(spec) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": object.union({"containers": [{"name": "c", "image": "x:1"}]}, spec)}}}

test_host_network_is_denied if {
	no_host_namespaces.deny["Pod p: hostNetwork is not allowed"] with input as pod({"hostNetwork": true})
}

test_host_pid_and_ipc_are_denied if {
	count(no_host_namespaces.deny) == 2 with input as pod({"hostPID": true, "hostIPC": true})
}

test_a_plain_pod_passes if {
	count(no_host_namespaces.deny) == 0 with input as pod({"hostNetwork": false})
}
