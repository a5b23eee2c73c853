# METADATA
# title: Required labels
# description: >-
#   Workloads and Services carry the labels listed in `data.gatekeeper.config.required_labels`
#   (default: app.kubernetes.io/name).
# custom:
#   enforcement: deny
package library.required_labels

import rego.v1

import data.library.lib.kubernetes

default required := ["app.kubernetes.io/name"]

required := data.gatekeeper.config.required_labels

deny contains msg if {
	_applies
	some label in required
	not _present(label)
	msg := sprintf("%s must carry the label %s", [kubernetes.subject, label])
}

_applies if kubernetes.is_workload

_applies if kubernetes.kind == "Service"

_present(label) if kubernetes.labels[label] != ""
