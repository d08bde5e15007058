#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_login
short_description: Store (or remove) the credentials of an image registry in a Docker client configuration file
version_added: 0.1.0
description:
  - With O(state=present), checks O(username) and O(password) against the registry first, by talking to its
    Docker Registry HTTP API v2 directly (C(GET /v2/), with basic authentication or the bearer token flow the registry
    asks for). Only when the registry accepts them are they written to the C(auths) section of the Docker client
    configuration file O(config_path), the way C(docker login) does. Wrong credentials fail and write nothing.
  - With O(state=absent), removes the entry of the registry from that file (like C(docker logout)); the registry is not contacted.
  - Everything else in the file is kept. The file is written with mode C(0600) (its directory is created with mode C(0700)).
  - The Docker engine is not used, so this works for any registry and on hosts without Docker.
    The Docker CLI, Docker Compose and the Docker SDK for Python read the stored credentials when they pull or push.
  - The password is never returned, shown in the diff or logged.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  registry_url:
    description:
      - Address of the registry, V(HOST:PORT) or V(https://HOST:PORT) (HTTPS), or V(http://HOST:PORT) for a registry
        that serves plain HTTP.
      - The entry in the configuration file is named V(HOST:PORT), as the Docker CLI names it
        (V(https://index.docker.io/v1/) for Docker Hub, V(docker.io)).
    type: str
    required: true
  username:
    description:
      - User name. Required with O(state=present).
    type: str
  password:
    description:
      - Password (or access token) of O(username). Required with O(state=present).
    type: str
  state:
    description:
      - V(present) checks the credentials and stores them; V(absent) removes the entry of the registry.
    type: str
    choices: [present, absent]
    default: present
  config_path:
    description:
      - Docker client configuration file to update, on the target host.
      - Defaults to C($DOCKER_CONFIG/config.json) when the E(DOCKER_CONFIG) environment variable is set, otherwise to
        C(~/.docker/config.json) of the user the module runs as (mind C(become)).
    type: path
  ca_path:
    description:
      - CA certificate (PEM) that signed the certificate of the registry, when it is not signed by a CA the
        target host trusts.
      - This only concerns this module's own check. For the Docker engine to pull from the registry, the engine
        must trust the CA too (for example with the C(docker_host_registry_ca_certs) variable of the docker_host role).
    type: path
  reauthorize:
    description:
      - When the file already holds exactly these credentials for the registry, nothing is requested from the registry
        by default and the task reports no change.
      - With V(true), the credentials are checked against the registry even then (and the task fails if they no longer work).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.registry
attributes:
  check_mode:
    support: full
    details:
      - The credentials are checked against the registry in check mode too; the file is not written.
  diff_mode:
    support: full
    details:
      - The diff shows the entry of the registry with the user name; the secret is shown as C(<hidden>).
  platform:
    support: full
    platforms: posix
notes:
  - A configuration file that delegates the credentials to a credential helper (C(credsStore) or C(credHelpers) for this
    registry) makes the Docker CLI ignore the C(auths) entry written here; the module warns about it.
  - The Docker CLI stores the credentials in the file only base64-encoded, not encrypted. Protect the file and the account.
seealso:
  - module: hna.cloudos.registry_info
  - module: hna.cloudos.registry_prune
  - name: Docker CLI configuration file
    description: The C(auths) section of C(config.json).
    link: https://docs.docker.com/reference/cli/docker/#configuration-files
"""

EXAMPLES = r"""
- name: Log in to the company registry (root's ~/.docker/config.json)
  hna.cloudos.registry_login:
    registry_url: registry.example.com:5000
    username: deploy
    password: "{{ vault_registry_password }}"
    ca_path: /etc/pki/company-ca.pem
  become: true

- name: Log in for the user app, in a configuration file of its own
  hna.cloudos.registry_login:
    registry_url: https://registry.example.com
    username: app
    password: "{{ vault_app_registry_password }}"
    config_path: /home/app/.docker/config.json

- name: Log out of the registry
  hna.cloudos.registry_login:
    registry_url: registry.example.com:5000
    state: absent
"""

RETURN = r"""
registry:
  description: Name of the entry of the registry in the C(auths) section of the configuration file.
  returned: always
  type: str
  sample: registry.example.com:5000
config_path:
  description: Path of the configuration file.
  returned: always
  type: str
  sample: /root/.docker/config.json
verified:
  description: Whether the credentials were checked against the registry during this run.
  returned: always
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hna.cloudos.plugins.module_utils._registry_task import (
    REGISTRY_LOGIN_MODULE_KWARGS,
    registry_login_argument_spec,
    run_registry_login,
)


def main():
    run_registry_login(AnsibleModule(argument_spec=registry_login_argument_spec(), **REGISTRY_LOGIN_MODULE_KWARGS))


if __name__ == '__main__':
    main()
