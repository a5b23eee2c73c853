package library.run_as_non_root_test

import rego.v1

import data.library.run_as_non_root

pod(pod_context, container_context) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"securityContext": pod_context, "containers": [{"name": "c", "image": "x:1", "securityContext": container_context}]}}}}

test_container_level_non_root_passes if {
	count(run_as_non_root.deny) == 0 with input as pod({}, {"runAsNonRoot": true})
}

test_pod_level_non_root_is_inherited if {
	count(run_as_non_root.deny) == 0 with input as pod({"runAsNonRoot": true}, {})
}

test_a_container_can_not_undo_the_pod_setting if {
	run_as_non_root.deny["Pod p: container c must set runAsNonRoot: true (or inherit it from the pod)"] with input as pod({"runAsNonRoot": true}, {"runAsNonRoot": false})
}

test_no_setting_is_denied if {
	count(run_as_non_root.deny) == 1 with input as pod({}, {})
}

test_user_zero_is_denied if {
	run_as_non_root.deny["Pod p: container c runs as user 0"] with input as pod({"runAsNonRoot": true, "runAsUser": 0}, {})
}

test_a_container_user_overrides_the_pod_user if {
	count(run_as_non_root.deny) == 0 with input as pod({"runAsNonRoot": true, "runAsUser": 0}, {"runAsUser": 1000})
}
