#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: namespace
short_description: Create, change or remove a namespace (an isolated network with metadata and quotas) on a Docker engine
version_added: 0.1.0
description:
  - A namespace groups the containers and volumes of one application or team on a Docker engine. It is a user-defined
    bridge network named after the namespace, on its own private IPv4 subnet. The containers of the namespace reach
    each other on it by service name, as C(<service>) and C(<service>.<namespace>).
  - The namespace also keeps metadata (region, description, owner, creation time) and quotas (how many containers and
    volumes, how many CPUs and how much memory its containers may reserve). When the namespace is created, they are
    kept as labels on the network (C(io.hna.cloudos.namespace=<name>), C(io.hna.cloudos.managed=true) and
    C(io.hna.cloudos.ns.*)).
  - Containers and volumes belong to a namespace through their C(io.hna.cloudos.namespace=<name>) label. The modules of
    the collection that create containers or volumes in a namespace (such as M(hna.cloudos.container) and
    M(hna.cloudos.stack)) refuse a change that would exceed its quotas, before creating anything.
  - With O(state=present), creates the namespace, or brings its metadata and quotas to what the task says.
  - Docker cannot change the labels of a network, so the network is never touched when the metadata or quotas of an
    existing namespace change. The module writes the new metadata and quotas to a new metadata volume
    C(<name>.namespace-meta.<generation>) (labelled C(io.hna.cloudos.namespace-meta=<name>), with the ID of the network,
    the generation and the same C(io.hna.cloudos.ns.*) labels), and then removes the older metadata volumes. The
    containers stay connected, with the same network, endpoint and address.
  - The metadata volume of the highest generation made for this very network wins, so a run stopped between the two
    steps leaves a readable namespace; the next run removes the older one. A namespace without a metadata volume (one
    never changed since it was created) is read from its network labels. The network labels keep the values given at
    creation (C(docker network inspect) shows those); RV(namespace.metadata_volume) names the volume in use.
  - A metadata volume is never mounted, does not count against the volumes quota, and is not one of the namespace's
    volumes (it has no C(io.hna.cloudos.namespace) label).
  - With O(state=absent), removes the namespace network and its metadata volumes. It refuses while containers remain
    in the namespace unless O(force=true).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the namespace, and of its network.
      - A lowercase DNS label of 1 to 63 characters (C(a-z), C(0-9) and C(-), starting and ending with a letter or
        digit), because services are reached as C(<service>.<name>).
      - V(bridge), V(host), V(none) and V(default) are kept by Docker and refused.
    type: str
    required: true
  state:
    description:
      - V(present) creates the namespace or updates its metadata and quotas.
      - V(absent) removes it (see O(force) and O(remove_volumes)).
    type: str
    choices: [present, absent]
    default: present
  subnet:
    description:
      - IPv4 subnet of the namespace network, in CIDR notation such as V(10.240.5.0/24).
      - Must be a private subnet (within V(10.0.0.0/8), V(172.16.0.0/12) or V(192.168.0.0/16)) of size V(/16) to
        V(/29), written with its network address, that overlaps no existing Docker network.
      - If not set, a free subnet is taken from O(subnet_pool) when the namespace is created.
      - The subnet of an existing namespace cannot be changed; giving a different one fails. Remove and create
        the namespace again to move it.
      - The gateway is the first address of the subnet.
    type: str
  subnet_pool:
    description:
      - Private IPv4 range in which a subnet is chosen when O(subnet) is not set.
      - The first block of size O(subnet_size) that overlaps no existing Docker network is used.
      - Only used when the namespace is created.
    type: str
    default: 10.240.0.0/12
  subnet_size:
    description:
      - Prefix length of the subnet chosen from O(subnet_pool), from V(16) to V(29). V(24) gives 254 addresses.
    type: int
    default: 24
  region:
    description:
      - Region the namespace belongs to, free text such as V(cn-north-2).
      - If not set, an existing namespace keeps its region. V('') removes it.
    type: str
  description:
    description:
      - What the namespace is for, free text.
      - If not set, an existing namespace keeps its description. V('') removes it.
    type: str
  owner:
    description:
      - Who is responsible for the namespace, free text such as a team or an e-mail address.
      - If not set, an existing namespace keeps its owner. V('') removes it.
    type: str
  quotas:
    description:
      - Limits of the namespace, checked by the modules that add containers or volumes to it.
      - When set, this is the whole set of quotas, and a quota left out is unlimited. If not set, an existing namespace
        keeps its quotas. V({}) removes every quota.
      - A quota lower than the current use is accepted with a warning; nothing is removed, but nothing more can be added.
    type: dict
    suboptions:
      containers:
        description: Most containers (in any state, stopped ones included) the namespace may hold.
        type: int
      volumes:
        description: Most volumes labelled for the namespace.
        type: int
      cpus:
        description:
          - Most CPUs the containers of the namespace may reserve together (the sum of their C(cpus) limits),
            such as V(2) or V(0.5).
          - A container without a CPU limit counts 0.
        type: float
      memory:
        description:
          - Most memory the containers of the namespace may reserve together (the sum of their memory limits).
          - Bytes, or a number with the unit V(b), V(k), V(m), V(g) or V(t) (binary units, as with Docker), such as
            V(512m) or V(4g).
          - A container without a memory limit counts 0.
        type: str
  force:
    description:
      - With O(state=absent), remove the namespace even though containers remain in it.
      - The containers labelled for the namespace are removed (running ones are killed), and containers of other
        namespaces that were also attached to its network are only disconnected.
      - Without O(force=true), the module fails while such containers remain, and lists them.
    type: bool
    default: false
  remove_volumes:
    description:
      - With O(state=absent), also remove the volumes labelled for the namespace, and the anonymous volumes of the
        containers O(force=true) removes, including those the container engine carried over from the containers it
        replaced (named in the C(io.hna.cloudos.engine.anonymous-volumes) label of the containers). A carried volume
        labelled for another namespace is kept.
      - Without it, those volumes are kept and listed in RV(kept_volumes).
      - When the namespace network is already gone, O(state=absent) still removes the volumes left labelled for the
        namespace with O(remove_volumes=true), and the containers left labelled for it with O(force=true).
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for the lock of the namespace when another run (of this module, M(hna.cloudos.stack) or
        M(hna.cloudos.container)) holds it; then the task fails without changing anything, naming the holder.
    type: int
    default: 300
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
requirements:
  - netaddr (the Python library), on the host that runs the module
attributes:
  check_mode:
    support: full
    details:
      - Check mode reports the subnet that would be chosen, the metadata volume that would be written and the
        containers and volumes that would be removed, without changing anything.
  diff_mode:
    support: full
    details:
      - The diff shows the subnet, metadata and quotas before and after.
  platform:
    support: full
    platforms: posix
notes:
  - The created time (RV(namespace.created)) is set when the namespace is created and never changes afterwards.
  - C(docker volume prune) on Docker before 23.0 removes every unused volume, metadata volumes included (the namespace
    then falls back to the metadata it was created with). Keep them with
    C(docker volume prune --filter label!=io.hna.cloudos.namespace-meta).
seealso:
  - module: hna.cloudos.namespace_info
  - name: Docker networking overview
    description: How containers on a user-defined bridge network reach each other by name.
    link: https://docs.docker.com/engine/network/
"""

EXAMPLES = r"""
- name: Create the namespace shop, with a subnet taken from the default pool
  hna.cloudos.namespace:
    name: shop
    region: cn-north-2
    description: Web shop (front, API and database)
    owner: team-shop@example.com
    quotas:
      containers: 20
      volumes: 10
      cpus: 8
      memory: 16g
  register: shop

- name: Show the subnet the namespace got
  ansible.builtin.debug:
    msg: "Namespace {{ shop.namespace.name }} uses {{ shop.namespace.subnet }} (gateway {{ shop.namespace.gateway }})"

- name: Create a namespace on a given subnet
  hna.cloudos.namespace:
    name: billing
    subnet: 10.250.8.0/24
    owner: team-billing

- name: Take namespace subnets of 64 addresses from another private range
  hna.cloudos.namespace:
    name: ci-runner-7
    subnet_pool: 192.168.128.0/17
    subnet_size: 26

- name: Raise the memory quota of shop (the other quotas must be repeated, or they become unlimited)
  hna.cloudos.namespace:
    name: shop
    quotas:
      containers: 20
      volumes: 10
      cpus: 8
      memory: 24g
  register: shop_quota

- name: Say where the metadata of shop is kept now
  ansible.builtin.debug:
    msg: "Metadata volume: {{ shop_quota.namespace.metadata_volume }}"

- name: Remove a namespace that must be empty
  hna.cloudos.namespace:
    name: billing
    state: absent

- name: Remove a namespace with its containers and volumes
  hna.cloudos.namespace:
    name: ci-runner-7
    state: absent
    force: true
    remove_volumes: true
"""

RETURN = r"""
namespace:
  description:
    - The namespace after the task (what it would be, in check mode).
    - Empty after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the namespace.
      type: str
      sample: shop
    network:
      description: Name of the namespace network (the same as RV(namespace.name)).
      type: str
      sample: shop
    network_id:
      description: ID of the namespace network (empty in check mode before it exists).
      type: str
      sample: 9a2f1c0e5b8d7a6c4e3f2b1a0d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
    subnet:
      description: IPv4 subnet of the namespace network.
      type: str
      sample: 10.240.0.0/24
    gateway:
      description: Gateway address of the subnet.
      type: str
      sample: 10.240.0.1
    region:
      description: Region of the namespace (empty if not set).
      type: str
      sample: cn-north-2
    description:
      description: Description of the namespace (empty if not set).
      type: str
      sample: Web shop (front, API and database)
    owner:
      description: Owner of the namespace (empty if not set).
      type: str
      sample: team-shop@example.com
    created:
      description: When the namespace was created, in UTC (C(YYYY-MM-DDTHH:MM:SSZ)).
      type: str
      sample: '2024-05-02T08:15:00Z'
    managed:
      description: Whether the network carries the C(io.hna.cloudos.managed=true) label.
      type: bool
      sample: true
    metadata_volume:
      description:
        - Name of the metadata volume that holds the metadata and quotas (after a change), or V(null) when they are
          read from the network labels (a namespace never changed since it was created).
      type: str
      sample: shop.namespace-meta.2
    quotas:
      description: Quotas of the namespace; V(null) means unlimited.
      type: dict
      contains:
        containers:
          description: Most containers.
          type: int
          sample: 20
        volumes:
          description: Most volumes.
          type: int
          sample: 10
        cpus:
          description: Most CPUs, summed over the containers' limits.
          type: float
          sample: 8.0
        memory:
          description: Most memory in bytes, summed over the containers' limits.
          type: int
          sample: 17179869184
    usage:
      description: What the namespace uses now.
      type: dict
      contains:
        containers:
          description: Containers labelled for the namespace, in any state.
          type: int
          sample: 3
        volumes:
          description: Volumes labelled for the namespace.
          type: int
          sample: 1
        cpus:
          description: Sum of the CPU limits of those containers (a container without limit counts 0).
          type: float
          sample: 1.5
        memory:
          description: Sum of the memory limits of those containers, in bytes (a container without limit counts 0).
          type: int
          sample: 1610612736
    available:
      description: What is left under each quota (never below 0); V(null) for an unlimited quota.
      type: dict
      contains:
        containers:
          description: Containers that may still be added.
          type: int
          sample: 17
        volumes:
          description: Volumes that may still be added.
          type: int
          sample: 9
        cpus:
          description: CPUs that may still be reserved.
          type: float
          sample: 6.5
        memory:
          description: Bytes of memory that may still be reserved.
          type: int
          sample: 15569256448
    over_quota:
      description:
        - One sentence per quota the namespace already uses more of than allowed (after a quota was lowered below the
          current use). A warning is also given for each.
      type: list
      elements: str
      sample: ['containers: 3 in use, quota 2']
removed_metadata_volumes:
  description:
    - Names of the metadata volumes removed (or that would be removed) by the task. With O(state=present), the older
      generations a metadata change supersedes (and any left by a run that was stopped midway); with O(state=absent),
      every metadata volume of the namespace.
  returned: always
  type: list
  elements: str
  sample: [shop.namespace-meta.1]
removed_containers:
  description: Names of the containers removed (or that would be removed) with the namespace (O(state=absent), O(force=true)).
  returned: always
  type: list
  elements: str
  sample: [shop-api, shop-db]
disconnected_containers:
  description:
    - Names of the containers of other namespaces (or of none) that were only disconnected from the namespace network
      before it was removed (O(state=absent), O(force=true)).
  returned: always
  type: list
  elements: str
  sample: []
removed_volumes:
  description:
    - Names of the namespace volumes removed (or that would be removed) with O(remove_volumes=true), and of the volumes
      carried over by the container engine for the removed containers.
  returned: always
  type: list
  elements: str
  sample: [shop-db-data]
kept_volumes:
  description:
    - Names of the namespace volumes (and of the volumes carried over for the removed containers) left in place by
      O(state=absent) without O(remove_volumes=true).
  returned: always
  type: list
  elements: str
  sample: [shop-db-data]
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._namespace_task import (
    NAMESPACE_MODULE_KWARGS,
    namespace_argument_spec,
    run_namespace,
)


def main():
    run_namespace(DockerClient(argument_spec=namespace_argument_spec(), **NAMESPACE_MODULE_KWARGS))


if __name__ == '__main__':
    main()
