package library.read_only_root_filesystem_test

import rego.v1

import data.library.read_only_root_filesystem

pod(context) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": context}]}}}}

test_a_writable_root_is_reported if {
	read_only_root_filesystem.deny["Pod p: container c should set readOnlyRootFilesystem: true"] with input as pod({})
}

test_read_only_passes if {
	count(read_only_root_filesystem.deny) == 0 with input as pod({"readOnlyRootFilesystem": true})
}
