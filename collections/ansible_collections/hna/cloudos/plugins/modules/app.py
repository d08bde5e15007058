#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: app
short_description: Deploy one app of the trusted app store into a namespace
version_added: 0.2.0
description:
  - Deploys one middleware app of the collection's catalog (Redis, MariaDB, nginx, Tomcat, ActiveMQ, a JDK runtime,
    MongoDB) into the namespace O(namespace) under the name O(name), from the catalog entry O(app) O(version).
  - The action plugin reads the entry on the controller, from the collection's C(catalog/<app>/<version>.yml) or from
    O(catalog_path), and hands it to the module, which runs on the Docker host like M(hna.cloudos.stack).
  - "Before anything changes: the entry and the parameters O(params) are checked (types, ranges, choices, required ones),
    each problem in one line naming the parameter; the digest the entry pins is compared with what the registry
    O(registry) serves under the entry's tag (a replaced image is refused); an app of the same name made from another
    catalog app, or from a version the entry may not replace in place (its C(upgrades_from)), is refused."
  - "The entry's Compose document, rendered with the parameters and the image pinned by digest
    (C(<registry>/<repository>@<digest>)), is deployed by the stack machinery of M(hna.cloudos.stack): the same checks,
    comparison, safe replacement, quotas and namespace lock. The app's service is named after O(name) and is reachable
    in the namespace as C(<name>) and C(<name>.<namespace>); its data volumes are named after O(name) too, so they
    outlive an upgrade, and two apps of one entry live side by side in a namespace."
  - The app owns only its own containers, networks and volumes (labels C(io.hna.cloudos.app=<name>) and
    C(io.hna.cloudos.namespace=<namespace>)); the namespace's stack and its other apps are never listed, changed or pruned
    by it, nor it by them.
  - Secret parameters reach the container only as files under C(/run/secrets), never in its environment, labels,
    command line, the result or the diff.
options:
  name:
    description:
      - Name of the app in the namespace (1 to 63 lower-case letters, digits, C(_) or C(-)); names its service, container
        and volumes.
    type: str
    required: true
  app:
    description:
      - The catalog app (the directory under C(catalog/)), such as V(redis). Needed with O(state=present).
    type: str
  version:
    description:
      - The version of the catalog app (the entry file's name without C(.yml)), such as V(7.0).
    type: str
  entry:
    description:
      - The catalog entry itself. Set by the action plugin from O(app), O(version) and O(catalog_path); give it only
        to deploy an entry that is not in a catalog directory.
    type: dict
  catalog_path:
    description:
      - A catalog directory on the controller (C(<app>/<version>.yml) entries) used instead of the collection's own,
        for a team's published catalog.
    type: path
  namespace:
    description:
      - The namespace, created before with M(hna.cloudos.namespace).
    type: str
    required: true
  params:
    description:
      - The values of the entry's parameters. The entry declares each (type, default, required, choices, range);
        an unknown name is refused. A digit string is accepted for an C(int) or C(port) parameter.
      - Secret parameters are shown as C((hidden)) in the result.
    type: dict
    default: {}
  state:
    description:
      - V(present) deploys the app (or changes it to what the entry and parameters say); V(absent) removes its
        containers and networks, and its volumes only with O(remove_data=true).
    type: str
    choices: [present, absent]
    default: present
  registry:
    description:
      - The registry the catalog's images are pulled from (C(host:port)), where the catalog was published.
      - Without it the image is C(<repository>@<digest>) as the engine resolves it, and the digest is not checked.
    type: str
  registry_ca_path:
    description:
      - The CA certificate of O(registry) for the digest check; default C(/etc/docker/certs.d/<registry>/ca.crt) when it
        exists (M(hna.cloudos.registry_login) and the docker_host role put it there).
    type: path
  config_path:
    description:
      - The Docker client configuration file with the credentials M(hna.cloudos.registry_login) stored, for the pull and
        the digest check; default C($DOCKER_CONFIG/config.json) or C(~/.docker/config.json).
    type: path
  verify_digest:
    description:
      - Compare the entry's digest with the one O(registry) serves for the entry's tag, and refuse a difference.
    type: bool
    default: true
  allow_unpinned:
    description:
      - Deploy an entry that pins no digest yet (a catalog not yet published), by its tag.
    type: bool
    default: false
  remove_data:
    description:
      - With O(state=absent), also remove the app's named volumes (its data).
    type: bool
    default: false
  pull:
    description:
      - When to pull the image; see M(hna.cloudos.stack). The image is pulled by digest.
    type: str
    choices: [missing, always, never]
    default: missing
  wait:
    description:
      - Wait until the app's containers run (and are healthy where the entry has a health check).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds O(wait) waits.
    type: int
    default: 180
  parallel:
    description:
      - Containers inspected, changed or removed at once; see M(hna.cloudos.stack).
    type: int
    default: 4
  lock_timeout:
    description:
      - Seconds to wait for the lock of the namespace; see M(hna.cloudos.stack).
    type: int
    default: 300
  files_dir:
    description:
      - Directory on the host under which the app's secret files are written, in C(<namespace>.apps/<name>) (mode 0700,
        the files 0400).
    type: path
    default: /var/lib/hna-cloudos/stacks
author:
  - HNA CloudOS maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
attributes:
  action:
    description: Indicates this has a corresponding action plugin, so some parts of the options can be executed on the controller.
    support: full
    details:
      - The action plugin reads the catalog entry on the controller.
  check_mode:
    support: full
    details:
      - Checks the entry, the parameters and the digest, and returns the stack's plan without changing anything (on a
        namespace that does not exist yet, the plan of a first deployment, with a warning, as M(hna.cloudos.stack) does).
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
seealso:
  - module: hna.cloudos.stack
  - module: hna.cloudos.namespace
"""

EXAMPLES = r"""
- name: A Redis for the shop's sessions, from the lab's registry
  hna.cloudos.app:
    name: sessions
    app: redis
    version: "7.0"
    namespace: shop
    registry: 10.231.0.11:5000
    params:
      password: "{{ vault_sessions_redis_password }}"
      memory: 512m
  register: sessions

- name: Where the shop finds it
  ansible.builtin.debug:
    msg: "{{ sessions.reach }}"

- name: Remove it with its data
  hna.cloudos.app:
    name: sessions
    namespace: shop
    state: absent
    remove_data: true
"""

RETURN = r"""
app:
  description: The app's name in the namespace.
  returned: always
  type: str
  sample: sessions
entry:
  description: The catalog app the entry belongs to.
  returned: when O(state=present)
  type: str
  sample: redis
version:
  description: The version of the catalog entry.
  returned: when O(state=present)
  type: str
  sample: "7.0"
image:
  description: The image reference deployed, pinned by digest.
  returned: when O(state=present)
  type: str
  sample: 10.231.0.11:5000/cloudos/redis@sha256:0f5c...
reach:
  description: How to reach the app, as the entry says (its name in the namespace's DNS, its published address).
  returned: when O(state=present)
  type: dict
  sample: {dns: "sessions.shop:6379", published: "127.0.0.1:6379"}
params:
  description: The parameters with their defaults filled in; secret ones shown as C((hidden)).
  returned: when O(state=present)
  type: dict
  sample: {port: 6379, bind_address: 127.0.0.1, memory: 512m, password: (hidden)}
services:
  description: The app's service (see M(hna.cloudos.stack)).
  returned: always
  type: dict
plan:
  description: What was (or, in check mode, would be) done (see M(hna.cloudos.stack)).
  returned: always
  type: dict
volumes:
  description: The app's volumes (see M(hna.cloudos.stack)).
  returned: always
  type: dict
"""

from ansible_collections.hna.cloudos.plugins.module_utils._app import APP_MODULE_KWARGS, app_argument_spec, run_app
from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient


def main():
    run_app(DockerClient(argument_spec=app_argument_spec(), **APP_MODULE_KWARGS))


if __name__ == '__main__':
    main()
