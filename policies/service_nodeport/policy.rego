# METADATA
# title: No NodePort Services unless allowed
# description: >-
#   Services of type NodePort are refused except in the namespaces listed in
#   `data.gatekeeper.config.nodeport_namespaces`.
# custom:
#   enforcement: deny
package library.service_nodeport

import rego.v1

import data.library.lib.kubernetes

default allowed_namespaces := []

allowed_namespaces := data.gatekeeper.config.nodeport_namespaces

deny contains msg if {
	kubernetes.kind == "Service"
	kubernetes.object.spec.type == "NodePort"
	not kubernetes.namespace in allowed_namespaces
	msg := sprintf("%s: type NodePort is not allowed in namespace %s", [kubernetes.subject, _namespace])
}

_namespace := kubernetes.namespace

default _namespace := "default"
