#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: app_catalog_info
short_description: List the apps of the trusted app store, their versions, pinned digests and parameters
version_added: 0.2.0
description:
  - Lists the entries of the app catalog that M(hna.cloudos.app) deploys from, the collection's own C(catalog) directory or
    a team's published catalog (O(catalog_path)).
  - For each app and version, returns the image (repository, tag and the digest it is pinned to, V(null) before the
    catalog is published), the parameters with their types, defaults, allowed values and which are secret, the versions it
    upgrades from in place, and how the app is reached.
  - Every entry is checked as M(hna.cloudos.app) checks it; an entry that fails is left out and named in RV(problems),
    the others are listed.
  - The action plugin reads the catalog on the controller; nothing runs on the target host.
options:
  name:
    description:
      - Only this app (its directory in the catalog), such as V(redis). The task fails when the catalog has no such app.
    type: str
  version:
    description:
      - Only this version (the entry file's name without C(.yml)), such as V(7.0).
    type: str
  catalog_path:
    description:
      - A catalog directory on the controller (C(<app>/<version>.yml) entries) read instead of the collection's own.
    type: path
author:
  - HNA CloudOS maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin, so some parts of the options can be executed on the controller.
    support: full
    details:
      - The whole module runs as its action plugin, on the controller.
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
seealso:
  - module: hna.cloudos.app
"""

EXAMPLES = r"""
- name: Which apps and versions the catalog has
  hna.cloudos.app_catalog_info:
  register: catalog

- name: Show them
  ansible.builtin.debug:
    msg: "{{ catalog.apps | map(attribute='name') | zip(catalog.apps | map(attribute='latest')) | map('join', ' ') | list }}"

- name: The parameters of Redis 7.0 in the team's published catalog
  hna.cloudos.app_catalog_info:
    name: redis
    version: "7.0"
    catalog_path: "{{ playbook_dir }}/../catalog"
  register: redis

- name: Refuse to go on with an entry that pins no digest
  ansible.builtin.assert:
    that: redis.apps[0].versions[0].pinned
    fail_msg: publish the catalog first (playbooks/app_catalog_publish.yml)
"""

RETURN = r"""
catalog:
  description: The catalog directory that was read, on the controller.
  returned: always
  type: str
  sample: /usr/share/ansible/collections/ansible_collections/hna/cloudos/catalog
apps:
  description: The apps, sorted by name, each with its versions, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The app, as M(hna.cloudos.app) takes it in its O(hna.cloudos.app#module:app) option.
      type: str
      sample: redis
    latest:
      description: The newest version in the catalog.
      type: str
      sample: "7.0"
    versions:
      description: One item per catalog entry of the app.
      type: list
      elements: dict
      contains:
        version:
          description: The version, as M(hna.cloudos.app) takes it.
          type: str
          sample: "7.0"
        description:
          description: What the app is.
          type: str
        image:
          description: The image repository (relative to the registry the catalog is published in), its tag and pinned
            digest (V(null) when the entry pins none yet).
          type: dict
          sample: {repository: cloudos/redis, tag: "7.0", digest: "sha256:0d8e0b3c1f5e..."}
        pinned:
          description: Whether the entry pins a digest (M(hna.cloudos.app) refuses an unpinned one unless told otherwise).
          type: bool
        params:
          description:
            - The parameters, by name, with their C(type), C(required), C(secret), C(description) and, when the entry
              gives them, C(default), C(choices), C(min), C(max), C(pattern) and C(example).
            - A secret parameter shows no default and no example.
          type: dict
          sample: {port: {type: port, required: false, secret: false, default: 6379, description: Host port...}}
        required:
          description: The names of the parameters that must be given.
          type: list
          elements: str
          sample: [password]
        secrets:
          description: The names of the secret parameters (they reach the container only as files under /run/secrets).
          type: list
          elements: str
          sample: [password]
        services:
          description: The services of the entry's Compose document, before they are named after the app.
          type: list
          elements: str
          sample: ["${app}"]
        upgrades_from:
          description: The versions this one replaces in place, keeping the data.
          type: list
          elements: str
        reach:
          description: How the deployed app is reached (C(${app}), C(${namespace}) and the parameters are filled in by
            M(hna.cloudos.app)).
          type: dict
          sample: {dns: "${app}.${namespace}:6379", published: "${bind_address}:${port}"}
        path:
          description: The entry's file on the controller.
          type: str
problems:
  description: One line per entry that could not be read or checked (it is not in RV(apps)).
  returned: always
  type: list
  elements: str
  sample: ["catalog entry redis 7.2: parameter 'port': type must be one of str, int, bool, port, memory"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hna.cloudos.plugins.module_utils._catalog import CatalogError, list_catalog


def main():
    # The action plugin does the work on the controller; this runs only when the module is called on its own (on the
    # target host, with a catalog directory there).
    module = AnsibleModule(argument_spec=dict(name=dict(type='str'), version=dict(type='str'), catalog_path=dict(type='path')),
                           supports_check_mode=True)
    if not module.params['catalog_path']:
        module.fail_json(msg='give catalog_path: without the action plugin (on the controller) there is no default catalog')
    try:
        apps, problems = list_catalog(module.params['catalog_path'], module.params['name'], module.params['version'])
    except (CatalogError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, catalog=module.params['catalog_path'], apps=apps, problems=problems)


if __name__ == '__main__':
    main()
