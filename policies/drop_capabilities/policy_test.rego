package library.drop_capabilities_test

import rego.v1

import data.library.drop_capabilities

deployment(capabilities) := {"review": {"object": {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": {"capabilities": capabilities}}]}}}}}}

test_dropping_all_passes if {
	count(drop_capabilities.deny) == 0 with input as deployment({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
}

test_not_dropping_is_denied if {
	drop_capabilities.deny["Deployment web: container c must drop ALL capabilities"] with input as deployment({})
}

test_adding_sys_admin_is_denied if {
	drop_capabilities.deny["Deployment web: container c adds the capability SYS_ADMIN"] with input as deployment({"drop": ["ALL"], "add": ["SYS_ADMIN"]})
}

test_allowed_capabilities_come_from_data if {
	count(drop_capabilities.deny) == 0 with input as deployment({"drop": ["ALL"], "add": ["NET_RAW"]}) with data.gatekeeper.config.allowed_capabilities as ["NET_RAW"]
}
