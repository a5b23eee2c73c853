package library.no_latest_tag_test

import rego.v1

import data.library.no_latest_tag

pod(image) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": image}]}}}}

cronjob(image) := {"review": {"object": {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"name": "init", "image": image}], "containers": [{"name": "app", "image": "busybox:1.36"}]}}}}}}}}

test_a_pinned_tag_passes if {
	count(no_latest_tag.deny) == 0 with input as pod("nginx:1.27.2")
}

test_a_digest_passes if {
	count(no_latest_tag.deny) == 0 with input as pod("nginx@sha256:0123456789abcdef")
}

test_latest_is_denied if {
	no_latest_tag.deny["Pod p: container app uses the mutable tag latest (nginx:latest); pin a version or digest"] with input as pod("nginx:latest")
}

test_an_untagged_image_is_denied if {
	no_latest_tag.deny["Pod p: container app has an untagged image nginx; pin a version or digest"] with input as pod("nginx")
}

test_a_registry_port_is_not_a_tag if {
	count(no_latest_tag.deny) == 1 with input as pod("registry.example.com:5000/team/app")
}

test_init_containers_of_a_cronjob_are_checked if {
	no_latest_tag.deny["CronJob nightly: container init uses the mutable tag latest (alpine:latest); pin a version or digest"] with input as cronjob("alpine:latest")
}
