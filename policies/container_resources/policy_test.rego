package library.container_resources_test

import rego.v1

import data.library.container_resources

full := {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}

statefulset(resources) := {"review": {"object": {"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"template": {"spec": {"containers": [{"name": "pg", "image": "postgres:16", "resources": resources}]}}}}}}

test_complete_resources_pass if {
	count(container_resources.deny) == 0 with input as statefulset(full)
}

test_missing_limits_are_denied if {
	denials := container_resources.deny with input as statefulset({"requests": full.requests})
	denials == {"StatefulSet db: container pg sets no limits.cpu", "StatefulSet db: container pg sets no limits.memory"}
}

test_no_resources_at_all_give_four_messages if {
	count(container_resources.deny) == 4 with input as statefulset({})
}

test_init_containers_need_resources_too if {
	obj := {"kind": "Job", "metadata": {"name": "migrate"}, "spec": {"template": {"spec": {"initContainers": [{"name": "wait", "image": "busybox:1.36"}], "containers": [{"name": "m", "image": "app:1", "resources": full}]}}}}
	count(container_resources.deny) == 4 with input as {"review": {"object": obj}}
}
