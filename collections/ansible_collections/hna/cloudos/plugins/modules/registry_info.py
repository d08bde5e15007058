#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_info
short_description: List the repositories and tags of an image registry, with digests, sizes and creation times
version_added: 0.1.0
description:
  - Talks to an image registry through its Docker Registry HTTP API v2 (CNCF Distribution, Harbor, GitLab, ...) and
    lists its repositories (C(/v2/_catalog)) and their tags, or only those of O(repository).
  - With O(include_details=true), also reads the manifest of every listed tag for its digest, its size, its creation
    time and its architecture.
  - Never changes anything. The Docker engine is not used.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  repository:
    description:
      - Only this repository (for example V(team/app)), instead of every repository of the catalog.
      - Fails when the registry does not know it.
    type: str
  repositories:
    description:
      - Only the repositories of the catalog whose whole name matches one of these Python regular expressions.
      - Cannot be combined with O(repository).
    type: list
    elements: str
  tags:
    description:
      - Only the tags whose whole name matches one of these Python regular expressions (for example V(v1\\..*)).
    type: list
    elements: str
  include_details:
    description:
      - Also read, for every listed tag, its digest, size, creation time and architecture (two or more requests per tag).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.registry
  - hna.cloudos.registry.STORED_CREDENTIALS
  - hna.cloudos.docker.INFO_MODULE
attributes:
  platform:
    support: full
    platforms: posix
notes:
  - Listing every repository needs the C(_catalog) endpoint, which some registries (Docker Hub, some hosted services)
    do not offer or restrict; give O(repository) there.
seealso:
  - module: hna.cloudos.registry_login
  - module: hna.cloudos.registry_prune
"""

EXAMPLES = r"""
- name: List every repository and tag of the registry
  hna.cloudos.registry_info:
    registry_url: registry.example.com:5000
    ca_path: /etc/pki/company-ca.pem
  register: registry

- name: Show the tags of each repository
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.tags | map(attribute='tag') | join(', ') }}"
  loop: "{{ registry.repositories }}"
  loop_control:
    label: "{{ item.name }}"

- name: Read the release tags of one repository with digests, sizes and creation times
  hna.cloudos.registry_info:
    registry_url: registry.example.com:5000
    username: reader
    password: "{{ vault_registry_reader_password }}"
    repository: shop/web
    tags:
      - 'v[0-9]+\.[0-9]+\.[0-9]+'
    include_details: true
  register: web_releases
"""

RETURN = r"""
registry:
  description: Name of the registry (V(HOST:PORT)).
  returned: always
  type: str
  sample: registry.example.com:5000
repositories:
  description: The repositories, sorted by name, with their tags.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Repository name.
      type: str
      sample: shop/web
    tags:
      description: Its tags (those matching O(tags)), sorted by name.
      type: list
      elements: dict
      contains:
        tag:
          description: Tag name.
          type: str
          sample: v1.2.0
        digest:
          description: Digest of the manifest the tag points at.
          type: str
          returned: with O(include_details=true)
          sample: sha256:9ef70cd9d1dbd068aca947a810cd93f68eea1083c0d95d8a10a051aa8cb460a3
        media_type:
          description: Media type of that manifest (an image manifest, or an index of several platforms).
          type: str
          returned: with O(include_details=true)
          sample: application/vnd.docker.distribution.manifest.v2+json
        size:
          description: Size in bytes of the image configuration plus its (compressed) layers, summed over the platforms of an index.
          type: int
          returned: with O(include_details=true)
          sample: 1018592
        created:
          description: Creation time from the image configuration (the newest one for an index), or V(null) if unknown.
          type: str
          returned: with O(include_details=true)
          sample: '2024-05-02T09:14:11.123456789Z'
        architecture:
          description: Architecture of the image (comma-separated for an index), or V(null) if unknown.
          type: str
          returned: with O(include_details=true)
          sample: amd64
        platforms:
          description: Platforms of the image, as V(OS/ARCHITECTURE).
          type: list
          elements: str
          returned: with O(include_details=true)
          sample: [linux/amd64]
        config_digests:
          description: Digests of the image configurations, which are the image IDs a Docker engine shows.
          type: list
          elements: str
          returned: with O(include_details=true)
          sample: [sha256:fdb0cba54cf4d1b1d9c0ad2d2b3c8a1e4b1b7c3f7ab4a6f0e5d6c2b1a0f9e8d7]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hna.cloudos.plugins.module_utils._registry_task import (
    REGISTRY_INFO_MODULE_KWARGS,
    registry_info_argument_spec,
    run_registry_info,
)


def main():
    run_registry_info(AnsibleModule(argument_spec=registry_info_argument_spec(), **REGISTRY_INFO_MODULE_KWARGS))


if __name__ == '__main__':
    main()
