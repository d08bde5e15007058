# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The connection options of the modules that talk to an image registry through its HTTP API
    # (registry_login, registry_info, registry_prune). The argument spec that goes with them is
    # module_utils._registry.registry_common_argument_spec(). A module documents an option itself
    # where its meaning there differs (registry_login documents username and config_path, and
    # completes registry_url, password and ca_path; registry_prune changes the default of timeout).
    DOCUMENTATION = r"""
options:
  registry_url:
    description:
      - Address of the registry, V(HOST:PORT) or V(https://HOST:PORT) (HTTPS), or V(http://HOST:PORT) for a registry
        that serves plain HTTP.
    type: str
    required: true
  password:
    description:
      - Password (or access token) of O(username).
    type: str
  validate_certs:
    description:
      - Check the TLS certificate of the registry. Turn this off only for a throwaway test registry.
    type: bool
    default: true
  ca_path:
    description:
      - CA certificate (PEM) that signed the certificate of the registry, when it is not signed by a CA the
        target host trusts.
    type: path
  timeout:
    description:
      - Seconds to wait for each answer of the registry.
    type: int
    default: 30
attributes:
  action_group:
    description: Use C(group/hna.cloudos.registry) in C(module_defaults) to set default values for the options of this module.
    support: full
    membership:
      - hna.cloudos.registry
requirements:
  - The Python library C(requests) on the host that runs the module.
"""

    # The credentials of the modules that read them from a Docker client configuration file when they are not given
    # (registry_info, registry_prune).
    STORED_CREDENTIALS = r"""
options:
  username:
    description:
      - User name. When not given, the credentials stored for the registry in O(config_path) are used, if any;
        otherwise the registry is queried anonymously.
    type: str
  config_path:
    description:
      - Docker client configuration file to read the credentials from when O(username) is not given
        (as written by M(hna.cloudos.registry_login) or C(docker login)).
      - Defaults to C($DOCKER_CONFIG/config.json) when E(DOCKER_CONFIG) is set, otherwise C(~/.docker/config.json).
      - Credentials kept by a credential helper cannot be read.
    type: path
"""
