package library.service_nodeport_test

import rego.v1

import data.library.service_nodeport

service(type, namespace) := {"review": {"namespace": namespace, "object": {"kind": "Service", "metadata": {"name": "web"}, "spec": {"type": type, "ports": [{"port": 80}]}}}}

test_node_port_is_denied if {
	service_nodeport.deny["Service web: type NodePort is not allowed in namespace shop"] with input as service("NodePort", "shop")
}

test_cluster_ip_passes if {
	count(service_nodeport.deny) == 0 with input as service("ClusterIP", "shop")
}

test_node_port_is_allowed_in_listed_namespaces if {
	count(service_nodeport.deny) == 0 with input as service("NodePort", "edge") with data.gatekeeper.config.nodeport_namespaces as ["edge"]
}
