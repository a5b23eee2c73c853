package library.no_host_ports_test

import rego.v1

import data.library.no_host_ports

pod(ports) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1", "ports": ports}]}}}}

test_a_host_port_is_denied if {
	no_host_ports.deny["Pod p: container c binds host port 8080"] with input as pod([{"containerPort": 80, "hostPort": 8080}])
}

test_container_ports_pass if {
	count(no_host_ports.deny) == 0 with input as pod([{"containerPort": 80}])
}
