package library.ingress_tls_test

import rego.v1

import data.library.ingress_tls

ingress(spec) := {"review": {"object": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"}, "spec": spec}}}

rules := [{"host": "shop.example.com"}, {"host": "api.example.com"}]

test_an_ingress_without_tls_is_denied if {
	ingress_tls.deny["Ingress web has no tls section"] with input as ingress({"rules": rules})
}

test_uncovered_hosts_are_denied if {
	denials := ingress_tls.deny with input as ingress({"rules": rules, "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]})
	denials == {"Ingress web: host api.example.com is not covered by tls"}
}

test_full_coverage_passes if {
	count(ingress_tls.deny) == 0 with input as ingress({"rules": rules, "tls": [{"hosts": ["shop.example.com", "api.example.com"], "secretName": "tls"}]})
}
