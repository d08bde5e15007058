# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The connection options of the modules that talk to an image registry through its HTTP API
    # (registry_login, registry_info, registry_prune). The argument spec that goes with them is
    # module_utils._registry.registry_common_argument_spec(). A module documents an option itself
    # where its meaning there differs (for example username and config_path).
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
