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
attributes:
  check_mode:
    support: full
    details:
      - This action only reads information and never changes anything, so it runs normally in check mode.
  diff_mode:
    support: N/A
    details:
      - This action only reads information and never changes anything.
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

from ansible_collections.hna.cloudos.plugins.module_utils._registry import (
    registry_common_argument_spec,
    RegistryClient,
    RegistryError,
    compile_patterns,
    default_config_path,
    load_credentials,
    matching_pattern,
    parse_registry_url,
)


def main():
    argument_spec = registry_common_argument_spec()
    argument_spec.update(
        repository=dict(type='str'),
        repositories=dict(type='list', elements='str'),
        tags=dict(type='list', elements='str'),
        include_details=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=[('username', 'password')],
        mutually_exclusive=[('repository', 'repositories')],
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, registry=None, repositories=[])
    try:
        address = parse_registry_url(params['registry_url'])
        result['registry'] = address.host
        username, password = load_credentials(params, address, params['config_path'] or default_config_path())
        tag_patterns = compile_patterns(params['tags'], 'tags')
        repo_patterns = compile_patterns(params['repositories'], 'repositories')
        client = RegistryClient(params['registry_url'], username=username, password=password,
                                validate_certs=params['validate_certs'], ca_path=params['ca_path'], timeout=params['timeout'])
        try:
            if params['repository']:
                names = [params['repository']]
            else:
                names = [name for name in client.catalog() if not repo_patterns or matching_pattern(name, repo_patterns) is not None]
            for name in names:
                entries = []
                try:
                    tags = client.tags(name)
                except RegistryError as exc:
                    if exc.status == 404 and not params['repository']:
                        tags = []  # listed in the catalog but emptied since
                    else:
                        raise
                for tag in tags:
                    if tag_patterns and matching_pattern(tag, tag_patterns) is None:
                        continue
                    entry = dict(tag=tag)
                    if params['include_details']:
                        details = client.image_details(name, tag)
                        details.pop('os', None)
                        details.pop('manifest_digests', None)
                        entry.update(details)
                    entries.append(entry)
                result['repositories'].append(dict(name=name, tags=entries))
        finally:
            client.close()
    except RegistryError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
