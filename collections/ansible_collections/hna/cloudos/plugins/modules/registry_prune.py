#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_prune
short_description: Delete old images from an image registry, keeping the newest, the protected and those in use
version_added: 0.1.0
description:
  - For each repository chosen with O(repository) or O(repositories), reads every tag of the repository with the
    digest and creation time of the image it points at (Docker Registry HTTP API v2), then deletes the manifests
    (by digest) that no rule keeps.
  - "A digest is kept when any of these holds: one of its tags is among the O(keep_last) newest tags of the repository
    (by the creation time of the image configuration, then by tag name); one of its tags matches O(keep_patterns); it is
    in O(protected_digests) or O(in_use_digests); a container on one of the O(in_use_hosts) Docker engines uses it
    (running or not, found by the image's repository digests or by its image ID)."
  - Deleting a manifest removes every tag that points at it. So when any tag of a digest must stay, the digest and all
    its tags stay; RV(kept) tells why. The platform manifests of a kept multi-platform index stay as well.
  - Deleting manifests does not free disk space, the registry's garbage collector does. With O(garbage_collect), the
    module runs it inside the registry container through a Docker engine after it deleted anything.
  - In check mode, nothing is deleted and RV(deleted) lists what would be.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  repository:
    description:
      - The repository to prune, for example V(shop/web). Fails when the registry does not know it.
      - One of O(repository) and O(repositories) is required.
    type: str
  repositories:
    description:
      - Prune every repository of the registry catalog whose whole name matches one of these Python regular
        expressions (for example V(shop/.*)). A plain name matches only itself.
    type: list
    elements: str
  keep_last:
    description:
      - How many of the newest tags of each repository to keep, ordered by the creation time of their image
        (tags of the same image count one by one). Between equal times, the tag whose name sorts last counts as newer.
      - V(0) keeps no tag for its age; only the other rules keep images then.
    type: int
    required: true
  keep_patterns:
    description:
      - Keep every tag whose whole name matches one of these Python regular expressions (for example V(v[0-9]+\\..*)
        or V(latest|stable)), and so its digest.
    type: list
    elements: str
    default: []
  protected_digests:
    description:
      - Manifest digests (V(sha256:...)) never to delete.
    type: list
    elements: str
    default: []
  in_use_digests:
    description:
      - Manifest digests that are in use somewhere and so are never deleted, for callers that gathered them
        themselves (for example from Docker engines the module cannot reach). Image IDs (configuration digests) are accepted too.
    type: list
    elements: str
    default: []
  in_use_hosts:
    description:
      - Docker engines (C(docker_host) addresses such as V(unix:///var/run/docker.sock), V(tcp://192.0.2.10:2375) or
        V(https://192.0.2.10:2376)) whose containers (running or stopped) protect the images they were created from.
      - The module fails if one of them cannot be reached, rather than delete an image that may be in use.
      - V(https://) addresses use TLS with O(docker_ca_path), O(docker_client_cert) and O(docker_client_key).
    type: list
    elements: str
    default: []
  docker_ca_path:
    description:
      - CA certificate (PEM) of the Docker engines reached with V(https://) in O(in_use_hosts) and O(garbage_collect.docker_host).
        Without it, their certificates are not checked.
    type: path
  docker_client_cert:
    description:
      - Client certificate (PEM) presented to those Docker engines. Requires O(docker_client_key).
    type: path
  docker_client_key:
    description:
      - Private key (PEM) of O(docker_client_cert).
    type: path
  garbage_collect:
    description:
      - Run the registry's garbage collector (C(registry garbage-collect CONFIG)) in the registry container through the
        Docker engine that runs it, after this run deleted at least one manifest (not in check mode).
      - The garbage collector must not run while images are pushed. Run it with the registry read-only
        (C(storage.maintenance.readonly)) or while nobody pushes, or layers of a concurrent push can be lost.
    type: dict
    suboptions:
      container:
        description:
          - Name or ID of the registry container.
        type: str
        required: true
      docker_host:
        description:
          - Address of the Docker engine that runs the container.
        type: str
        default: unix:///var/run/docker.sock
      config:
        description:
          - Path of the registry configuration file inside the container.
        type: str
        default: /etc/docker/registry/config.yml
      delete_untagged:
        description:
          - Also delete manifests that no tag points at any more (C(--delete-untagged)), for example the platform
            manifests of a deleted index, or images pushed by digest only.
        type: bool
        default: false
  timeout:
    description:
      - Seconds to wait for each answer of the registry and of the Docker engines.
    type: int
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.registry
  - hna.cloudos.registry.STORED_CREDENTIALS
attributes:
  check_mode:
    support: full
    details:
      - Nothing is deleted and the garbage collector does not run; RV(deleted) lists what would be deleted.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
requirements:
  - The Docker SDK for Python (the C(docker) Python package) 7.1 or newer, only with O(in_use_hosts) or O(garbage_collect).
notes:
  - The user (O(username), or the one whose credentials are stored in O(config_path)) needs the right to delete.
  - The registry must allow deletes (C(storage.delete.enabled=true) in the CNCF Distribution configuration,
    E(REGISTRY_STORAGE_DELETE_ENABLED=true)); otherwise the module fails with a message saying so.
  - Images pulled by tag on a Docker engine are recognised by the repository digests the engine recorded at pull time,
    and by their image ID. An image copied to an engine another way (C(docker load)) is only recognised by its image ID.
  - The Docker engines of O(in_use_hosts) and O(garbage_collect.docker_host) must be Docker Engine 20.10 (API version
    1.41) or newer; the module uses the newest API version each engine speaks.
  - This module is in the C(hna.cloudos.registry) action group, not in C(hna.cloudos.docker), and does not take the common
    Docker connection options (C(docker_host), C(tls), ...) of the Docker modules, because its O(validate_certs),
    O(ca_path) and O(timeout) are those of the registry, and it may talk to several Docker engines, each named by its
    address.
seealso:
  - module: hna.cloudos.registry_info
  - module: hna.cloudos.registry_login
  - name: CNCF Distribution garbage collection
    description: How the registry's garbage collector works, and why it needs the registry idle or read-only.
    link: https://distribution.github.io/distribution/about/garbage-collection/
"""

EXAMPLES = r"""
- name: Keep the 10 newest images of shop/web, every release tag, and whatever the hosts run
  hna.cloudos.registry_prune:
    registry_url: registry.example.com:5000
    username: cleaner
    password: "{{ vault_registry_cleaner_password }}"
    repository: shop/web
    keep_last: 10
    keep_patterns:
      - 'v[0-9]+\.[0-9]+\.[0-9]+'
      - latest
    in_use_hosts:
      - unix:///var/run/docker.sock
  register: pruned

- name: Show what was deleted and why the rest stays
  ansible.builtin.debug:
    msg:
      deleted: "{{ pruned.deleted | map(attribute='tags') | flatten }}"
      kept: "{{ pruned.kept | items2dict(key_name='digest', value_name='reasons') }}"

- name: Prune every shop repository, then free the space in the registry container
  hna.cloudos.registry_prune:
    registry_url: registry.example.com:5000
    repositories:
      - 'shop/.*'
    keep_last: 5
    protected_digests:
      - sha256:4f3c1d1a1c7e0f5b8c6f2a9d3e0b7c4a5d6e7f8091a2b3c4d5e6f708192a3b4c
    garbage_collect:
      container: registry
      delete_untagged: true
"""

RETURN = r"""
registry:
  description: Name of the registry (V(HOST:PORT)).
  returned: always
  type: str
  sample: registry.example.com:5000
deleted:
  description: The manifests deleted (in check mode, those that would be), with the tags that pointed at them.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: Repository name.
      type: str
      sample: shop/web
    digest:
      description: Manifest digest.
      type: str
      sample: sha256:0e5f2d1c3b4a59687766554433221100ffeeddccbbaa99887766554433221100
    tags:
      description: Tags that pointed at it.
      type: list
      elements: str
      sample: [build-17]
    created:
      description: Creation time of the image, or V(null) if unknown.
      type: str
      sample: '2024-05-02T09:14:11.123456789Z'
kept:
  description: The manifests kept, with their tags and every reason to keep them.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: Repository name.
      type: str
      sample: shop/web
    digest:
      description: Manifest digest.
      type: str
      sample: sha256:9ef70cd9d1dbd068aca947a810cd93f68eea1083c0d95d8a10a051aa8cb460a3
    tags:
      description: Tags that point at it.
      type: list
      elements: str
      sample: [v1.2.0, latest]
    created:
      description: Creation time of the image, or V(null) if unknown.
      type: str
      sample: '2024-05-03T10:00:00Z'
    reasons:
      description: Why it is kept.
      type: list
      elements: str
      sample: [tag latest matches keep pattern latest, in use by container web on unix:///var/run/docker.sock]
garbage_collect:
  description: Result of the garbage collector run.
  returned: when O(garbage_collect) is set
  type: dict
  contains:
    ran:
      description: Whether it ran (only after a run that deleted something, and not in check mode).
      type: bool
      sample: true
    output:
      description: Its last output lines.
      type: str
      sample: '3 blobs marked, 2 blobs and 0 manifests eligible for deletion'
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hna.cloudos.plugins.module_utils._registry_task import (
    REGISTRY_PRUNE_MODULE_KWARGS,
    registry_prune_argument_spec,
    run_registry_prune,
)


def main():
    run_registry_prune(AnsibleModule(argument_spec=registry_prune_argument_spec(), **REGISTRY_PRUNE_MODULE_KWARGS))


if __name__ == '__main__':
    main()
