package library.no_privileged_test

import rego.v1

import data.library.no_privileged

daemonset(context) := {"review": {"object": {"kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "agent:1", "securityContext": context}]}}}}}}

test_a_privileged_container_is_denied if {
	no_privileged.deny["DaemonSet agent: container a runs privileged"] with input as daemonset({"privileged": true})
}

test_an_unprivileged_container_passes if {
	count(no_privileged.deny) == 0 with input as daemonset({"privileged": false})
}

test_no_security_context_passes if {
	count(no_privileged.deny) == 0 with input as daemonset({})
}
