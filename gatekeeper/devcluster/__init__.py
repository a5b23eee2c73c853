"""A local Kubernetes control plane (etcd + kube-apiserver as processes) for tests and the demo."""

from gatekeeper.errors import GatekeeperError


class DevClusterError(GatekeeperError):
    """The local control plane could not be found, built, started or stopped."""


class BinariesMissing(DevClusterError):
    """kube-apiserver or etcd is not installed and cannot be built on this system."""


class BuildFailed(DevClusterError):
    """Building kube-apiserver from Debian's source package failed; the message names the log."""
