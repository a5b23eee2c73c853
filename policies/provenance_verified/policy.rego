# METADATA
# title: Verified provenance required
# description: >-
#   At sync, every object must come from a commit whose signature verified and whose signer
#   may change the object's path. At admission, an object labelled as Git-managed must carry
#   verified provenance.
# custom:
#   enforcement: deny
package library.provenance_verified

import rego.v1

import data.library.lib.kubernetes

deny contains msg if {
	input.provenance.phase == "sync"
	not input.provenance.verified == true
	msg := sprintf("%s: commit %s of source %s has no verified signature", [kubernetes.subject, _commit, _source])
}

deny contains msg if {
	input.provenance.phase == "sync"
	input.provenance.verified == true
	not input.provenance.trusted == true
	msg := sprintf("%s: the signer of commit %s may not change %s", [kubernetes.subject, _commit, _path])
}

deny contains msg if {
	input.provenance.phase == "admission"
	kubernetes.labels["gatekeeper.dev/managed"] == "true"
	not input.provenance.verified == true
	msg := sprintf("%s is managed from Git but its change does not trace to a verified commit", [kubernetes.subject])
}

_commit := input.provenance.commit if input.provenance.commit != ""

default _commit := "(unknown)"

_source := input.provenance.source if input.provenance.source != ""

default _source := "(unknown)"

_path := input.provenance.path if input.provenance.path != ""

default _path := "(unknown path)"
