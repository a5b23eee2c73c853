# METADATA
# title: Ingress serves TLS
# description: Every Ingress has a tls section, and every host of its rules is covered by it.
# custom:
#   enforcement: deny
package library.ingress_tls

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	kubernetes.kind == "Ingress"
	count(object.get(kubernetes.object.spec, "tls", [])) == 0
	msg := sprintf("%s has no tls section", [kubernetes.subject])
}

deny contains msg if {
	kubernetes.kind == "Ingress"
	count(object.get(kubernetes.object.spec, "tls", [])) > 0
	some rule in kubernetes.object.spec.rules
	host := rule.host
	not host in _tls_hosts
	msg := sprintf("%s: host %s is not covered by tls", [kubernetes.subject, host])
}

_tls_hosts contains host if {
	some entry in kubernetes.object.spec.tls
	some host in entry.hosts
}
