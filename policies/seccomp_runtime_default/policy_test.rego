package library.seccomp_runtime_default_test

import rego.v1

import data.library.seccomp_runtime_default

pod(pod_context, container_context) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"securityContext": pod_context, "containers": [{"name": "c", "image": "x:1", "securityContext": container_context}]}}}}

test_a_pod_profile_covers_every_container if {
	count(seccomp_runtime_default.deny) == 0 with input as pod({"seccompProfile": {"type": "RuntimeDefault"}}, {})
}

test_a_container_profile_is_enough if {
	count(seccomp_runtime_default.deny) == 0 with input as pod({}, {"seccompProfile": {"type": "Localhost"}})
}

test_unconfined_is_reported if {
	seccomp_runtime_default.deny["Pod p: container c has no RuntimeDefault or Localhost seccomp profile"] with input as pod({}, {"seccompProfile": {"type": "Unconfined"}})
}
