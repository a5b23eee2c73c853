package library.provenance_verified_test

import rego.v1

import data.library.provenance_verified

deployment := {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"gatekeeper.dev/managed": "true"}}}

sync_input(provenance) := {"review": {"object": deployment}, "provenance": object.union({"phase": "sync"}, provenance)}

test_a_verified_and_trusted_commit_passes if {
	count(provenance_verified.deny) == 0 with input as sync_input({"verified": true, "trusted": true, "commit": "abc"})
}

test_an_unverified_commit_is_denied if {
	provenance_verified.deny["Deployment web: commit abc of source apps has no verified signature"] with input as sync_input({"verified": false, "commit": "abc", "source": "apps"})
}

test_missing_provenance_at_sync_is_denied if {
	count(provenance_verified.deny) == 1 with input as {"review": {"object": deployment}, "provenance": {"phase": "sync"}}
}

test_a_verified_but_untrusted_signer_is_denied if {
	provenance_verified.deny["Deployment web: the signer of commit abc may not change apps/web.yaml"] with input as sync_input({"verified": true, "trusted": false, "commit": "abc", "path": "apps/web.yaml"})
}

test_a_managed_object_at_admission_needs_verified_provenance if {
	provenance_verified.deny["Deployment web is managed from Git but its change does not trace to a verified commit"] with input as {"review": {"object": deployment}, "provenance": {"phase": "admission", "verified": false}}
}

test_an_unmanaged_object_at_admission_passes if {
	obj := json.remove(deployment, ["metadata/labels"])
	count(provenance_verified.deny) == 0 with input as {"review": {"object": obj}, "provenance": {"phase": "admission"}}
}
