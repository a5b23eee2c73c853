package library.required_labels_test

import rego.v1

import data.library.required_labels

service(labels) := {"review": {"object": {"kind": "Service", "metadata": {"name": "web", "labels": labels}, "spec": {"ports": [{"port": 80}]}}}}

test_the_default_label_is_required if {
	required_labels.deny["Service web must carry the label app.kubernetes.io/name"] with input as service({})
}

test_labelled_objects_pass if {
	count(required_labels.deny) == 0 with input as service({"app.kubernetes.io/name": "web"})
}

test_the_list_comes_from_data if {
	denials := required_labels.deny with input as service({"app.kubernetes.io/name": "web"}) with data.gatekeeper.config.required_labels as ["team", "app.kubernetes.io/name"]
	denials == {"Service web must carry the label team"}
}

test_config_maps_are_not_checked if {
	count(required_labels.deny) == 0 with input as {"review": {"object": {"kind": "ConfigMap", "metadata": {"name": "c"}}}}
}
