package library.no_privilege_escalation_test

import rego.v1

import data.library.no_privilege_escalation

job(context) := {"review": {"object": {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": context}]}}}}}}

test_false_passes if {
	count(no_privilege_escalation.deny) == 0 with input as job({"allowPrivilegeEscalation": false})
}

test_true_is_denied if {
	no_privilege_escalation.deny["Job j: container c must set allowPrivilegeEscalation: false"] with input as job({"allowPrivilegeEscalation": true})
}

test_unset_is_denied if {
	count(no_privilege_escalation.deny) == 1 with input as job({})
}
