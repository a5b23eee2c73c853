package library.allowed_registries_test

import rego.v1

import data.library.allowed_registries

deployment(image) := {"review": {"object": {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}}}

registries := ["registry.example.com/", "docker.io/library/"]

test_an_allowed_registry_passes if {
	count(allowed_registries.deny) == 0 with input as deployment("registry.example.com/team/web:1.0") with data.gatekeeper.config.allowed_registries as registries
}

test_docker_hub_short_names_are_normalized if {
	count(allowed_registries.deny) == 0 with input as deployment("nginx:1.27") with data.gatekeeper.config.allowed_registries as registries
}

test_another_registry_is_denied if {
	allowed_registries.deny["Deployment web: container app uses image ghcr.io/evil/miner:1 from a registry that is not allowed (allowed: registry.example.com/, docker.io/library/)"] with input as deployment("ghcr.io/evil/miner:1") with data.gatekeeper.config.allowed_registries as registries
}

test_without_configuration_the_policy_is_inactive if {
	count(allowed_registries.deny) == 0 with input as deployment("ghcr.io/evil/miner:1")
}

test_an_empty_list_allows_nothing if {
	count(allowed_registries.deny) == 1 with input as deployment("nginx:1.27") with data.gatekeeper.config.allowed_registries as []
}
