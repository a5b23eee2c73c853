package library.no_host_path_test

import rego.v1

import data.library.no_host_path

deployment(volumes) := {"review": {"object": {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}], "volumes": volumes}}}}}}

test_a_host_path_volume_is_denied if {
	no_host_path.deny["Deployment web: volume docker mounts the host path /var/run/docker.sock"] with input as deployment([{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}])
}

test_other_volumes_pass if {
	count(no_host_path.deny) == 0 with input as deployment([{"name": "cache", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg"}}])
}
