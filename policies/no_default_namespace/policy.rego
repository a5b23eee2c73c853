# METADATA
# title: No workloads in the default namespace
# custom:
#   enforcement: deny
package library.no_default_namespace

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	kubernetes.is_workload
	_in_default
	msg := sprintf("%s may not run in the default namespace", [kubernetes.subject])
}

_in_default if kubernetes.namespace == "default"

# No namespace anywhere means the object would land in default.
_in_default if not kubernetes.namespace

_in_default if kubernetes.namespace == ""
