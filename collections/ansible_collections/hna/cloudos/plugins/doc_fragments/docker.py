# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """Documentation shared by the hna.cloudos modules that talk to a Docker engine."""

    # Connection options common to every Docker module.
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - Address of the Docker engine (daemon) API.
      - V(unix:///path/to/socket) for a local Unix socket, V(tcp://HOST:PORT) for a remote engine.
        V(http://HOST:PORT) is the same as V(tcp://HOST:PORT), and V(https://HOST:PORT) is the same as
        V(tcp://HOST:PORT) with O(tls=true).
      - Without a port, V(tcp://HOST) uses port V(2376) when TLS is in use and V(2375) otherwise.
      - If not set, the E(DOCKER_HOST) environment variable is used (an empty variable counts as unset),
        and if that is not set either, the default applies.
      - The module runs on the target host, so a Unix socket path and the environment variables are those of
        the target host.
    type: str
    default: unix:///var/run/docker.sock
  tls:
    description:
      - Connect to the engine with TLS, without checking the engine certificate unless O(validate_certs=true).
      - If not set, the E(DOCKER_TLS) environment variable is used (a boolean such as V(1) or V(true)).
      - O(validate_certs=true) and an V(https://) address in O(docker_host) turn TLS on as well.
    type: bool
    default: false
  validate_certs:
    description:
      - Connect to the engine with TLS and check that its certificate is signed by a trusted CA
        (O(ca_path), or the system trust store when O(ca_path) is not set).
      - If not set, the E(DOCKER_TLS_VERIFY) environment variable is used (a boolean such as V(1) or V(true)).
      - Strongly recommended for any engine reached over the network.
    type: bool
    default: false
  ca_path:
    description:
      - Path of the CA certificate (PEM) that signed the engine certificate. Used when O(validate_certs=true).
      - If not set and the E(DOCKER_CERT_PATH) environment variable names a directory that holds a C(ca.pem)
        file, that file is used.
    type: path
  client_cert:
    description:
      - Path of the client certificate (PEM) presented to the engine, for engines that require client
        authentication. Requires O(client_key).
      - If not set and the E(DOCKER_CERT_PATH) environment variable names a directory that holds a C(cert.pem)
        file, that file is used.
    type: path
  client_key:
    description:
      - Path of the private key (PEM) of O(client_cert).
      - If not set and the E(DOCKER_CERT_PATH) environment variable names a directory that holds a C(key.pem)
        file, that file is used.
    type: path
  timeout:
    description:
      - Seconds to wait for an answer of the engine to each request.
      - If not set, the E(DOCKER_TIMEOUT) environment variable is used.
    type: int
    default: 60
  api_version:
    description:
      - Docker Engine API version to use, such as V(1.43).
      - V(auto) uses the newest version the engine supports.
      - A version older than V(1.41) (Docker Engine 20.10) is refused, as is a version the engine does not support.
      - If not set, the E(DOCKER_API_VERSION) environment variable is used.
    type: str
    default: auto
notes:
  - The connection options can be set once for all the Docker modules of the collection with
    C(module_defaults) and the C(group/hna.cloudos.docker) action group.
  - Docker Engine 20.10 (API version 1.41) or newer is required.
  - Connecting to the Docker engine gives full control over the host it runs on. Protect a remote engine with
    TLS and client certificates (O(validate_certs=true), O(client_cert), O(client_key)).
"""

    # Python requirement of every Docker module.
    DOCKER_SDK = r"""
options: {}
requirements:
  - Docker SDK for Python (the C(docker) Python package) 7.1 or newer, on the host that runs the module
    (the target host; with C(connection=local), the Python interpreter that runs Ansible).
"""

    # Membership of the Docker modules in the docker action group.
    ACTIONGROUP_DOCKER = r"""
attributes:
  action_group:
    description: Use C(group/hna.cloudos.docker) in C(module_defaults) to set default values for the options of this module.
    support: full
    membership:
      - hna.cloudos.docker
"""

    # Attributes of an information module that only reads.
    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
    details:
      - This action only reads information and never changes anything, so it runs normally in check mode.
  diff_mode:
    support: N/A
    details:
      - This action only reads information and never changes anything.
"""
