package library.lib.kubernetes_test

import rego.v1

import data.library.lib.images
import data.library.lib.kubernetes

pod_spec := {"containers": [{"name": "app", "image": "nginx:1.27"}], "initContainers": [{"name": "init", "image": "busybox:1.36"}]}

review(obj) := {"review": {"object": obj, "namespace": "shop"}}

test_pod_spec_of_a_pod if {
	obj := {"kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec}
	kubernetes.pod_spec == pod_spec with input as review(obj)
}

test_pod_spec_of_every_template_kind if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"] {
		obj := {"kind": kind, "metadata": {"name": "w"}, "spec": {"template": {"spec": pod_spec}}}
		kubernetes.pod_spec == pod_spec with input as review(obj)
	}
}

test_pod_spec_of_a_cronjob if {
	obj := {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}
	kubernetes.pod_spec == pod_spec with input as review(obj)
}

test_containers_include_init_containers if {
	obj := {"kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec}
	names := {c.name | some c in kubernetes.containers} with input as review(obj)
	names == {"app", "init"}
}

test_a_configmap_has_no_pod_spec if {
	not kubernetes.pod_spec with input as review({"kind": "ConfigMap", "metadata": {"name": "c"}})
}

test_namespace_falls_back_to_metadata if {
	kubernetes.namespace == "team" with input as {"review": {"object": {"kind": "Pod", "metadata": {"name": "p", "namespace": "team"}}}}
}

test_image_tags if {
	images.tag("nginx:1.27") == "1.27"
	images.tag("registry.example.com:5000/team/app:v2") == "v2"
	not images.tag("registry.example.com:5000/team/app")
	not images.tag("nginx@sha256:abc")
	images.default_tag("nginx")
}

test_image_normalization if {
	images.normalized("nginx") == "docker.io/library/nginx"
	images.normalized("team/app:1") == "docker.io/team/app:1"
	images.normalized("ghcr.io/team/app:1") == "ghcr.io/team/app:1"
	images.normalized("localhost/app") == "localhost/app"
}
