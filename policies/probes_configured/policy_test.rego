package library.probes_configured_test

import rego.v1

import data.library.probes_configured

probe := {"httpGet": {"path": "/healthz", "port": 8080}}

workload(kind, container) := {"review": {"object": {"kind": kind, "metadata": {"name": "w"}, "spec": {"template": {"spec": {"containers": [container]}}}}}}

test_missing_probes_are_reported if {
	denials := probes_configured.deny with input as workload("Deployment", {"name": "c", "image": "x:1"})
	denials == {"Deployment w: container c has no readinessProbe", "Deployment w: container c has no livenessProbe"}
}

test_both_probes_pass if {
	count(probes_configured.deny) == 0 with input as workload("StatefulSet", {"name": "c", "image": "x:1", "readinessProbe": probe, "livenessProbe": probe})
}

test_jobs_need_no_probes if {
	count(probes_configured.deny) == 0 with input as workload("Job", {"name": "c", "image": "x:1"})
}
