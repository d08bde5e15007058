#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: namespace_info
short_description: Read the namespaces of a Docker engine, with their quotas, usage and services
version_added: 0.1.0
description:
  - Returns one namespace (O(name)) or every namespace of a Docker engine, as created by M(hna.cloudos.namespace),
    with its metadata, quotas, what the namespace uses, and its services with their state, internal DNS names, published
    ports and image.
  - A service is the set of containers of the namespace that share the same C(io.hna.cloudos.service) label; a
    container of the namespace without that label is a service of its own, named after the container.
  - The state of each container is one of C(Active) (running, and healthy or without health check), C(Registering)
    (running with its health check still starting, or restarting), C(Unhealthy) (running with a failing health check),
    C(Stopped) (never started, paused, or stopped with exit code 0) and C(Exited) (stopped with a non-zero exit code).
  - A service takes the first of C(Exited), C(Unhealthy), C(Registering), C(Active), C(Stopped) that one of its
    containers has; so it is C(Stopped) only when all its containers are.
  - The namespace RV(namespaces[].status) is C(Empty) without services, C(Unhealthy) if a service is C(Unhealthy) or
    C(Exited), otherwise C(Registering) if a service is C(Registering), otherwise C(Active) if a service is C(Active),
    otherwise C(Stopped).
  - The metadata and quotas are read from the newest metadata volume of the namespace (written by
    M(hna.cloudos.namespace) when they change), or from the labels of its network when it has none.
  - Never changes anything on the engine.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the namespace to read.
      - If not set, every namespace of the engine is returned.
      - A namespace that does not exist gives an empty RV(namespaces) list, not an error.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
  - hna.cloudos.docker.info_module
attributes:
  platform:
    support: full
    platforms: posix
notes:
  - The engine is asked for the namespace network, its metadata volumes, the list of the namespace containers and
    volumes, and then each container and each distinct image is inspected once; reading a namespace of N containers
    costs about N + 5 requests.
seealso:
  - module: hna.cloudos.namespace
"""

EXAMPLES = r"""
- name: Read the namespace shop
  hna.cloudos.namespace_info:
    name: shop
  register: shop_info

- name: Fail unless every service of shop is up
  ansible.builtin.assert:
    that:
      - shop_info.namespaces | length == 1
      - shop_info.namespaces[0].status == 'Active'
    fail_msg: >-
      shop is {{ shop_info.namespaces[0].status | default('missing') }};
      services not active: {{ (shop_info.namespaces[0].services | default([]) | rejectattr('state', 'equalto', 'Active')
                               | map(attribute='name') | join(', ')) or 'none' }}

- name: Show what is left of the quotas of shop
  ansible.builtin.debug:
    var: shop_info.namespaces[0].available

- name: Read every namespace of the engine
  hna.cloudos.namespace_info:
  register: all_namespaces

- name: List the namespaces that are over a quota
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.over_quota | join('; ') }}"
  loop: "{{ all_namespaces.namespaces | selectattr('over_quota') | list }}"
  loop_control:
    label: "{{ item.name }}"
"""

RETURN = r"""
namespaces:
  description: The namespaces, sorted by name (only the one asked for when O(name) is set; empty if it does not exist).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the namespace.
      type: str
      sample: shop
    network:
      description: Name of the namespace network (the same as the namespace).
      type: str
      sample: shop
    network_id:
      description: ID of the namespace network.
      type: str
      sample: 9a2f1c0e5b8d7a6c4e3f2b1a0d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
    subnet:
      description: IPv4 subnet of the namespace network.
      type: str
      sample: 10.240.0.0/24
    gateway:
      description: Gateway address of the subnet (V(null) if the engine does not say).
      type: str
      sample: 10.240.0.1
    region:
      description: Region of the namespace (empty if not set).
      type: str
      sample: cn-north-2
    description:
      description: Description of the namespace (empty if not set).
      type: str
      sample: Web shop
    owner:
      description: Owner of the namespace (empty if not set).
      type: str
      sample: team-shop@example.com
    created:
      description: When the namespace was created, in UTC.
      type: str
      sample: '2024-05-02T08:15:00Z'
    managed:
      description: Whether the network carries the C(io.hna.cloudos.managed=true) label.
      type: bool
      sample: true
    metadata_volume:
      description:
        - Name of the metadata volume the metadata and quotas were read from, or V(null) when they come from the network
          labels (a namespace never changed since it was created).
      type: str
      sample: shop.namespace-meta.2
    quotas:
      description: Quotas; V(null) means unlimited. C(memory) is in bytes.
      type: dict
      sample: {containers: 20, volumes: 10, cpus: 8.0, memory: 17179869184}
    usage:
      description:
        - What the namespace uses, that is the containers (any state) and volumes labelled for it, and the sums of the CPU and memory
          (bytes) limits of those containers (a container without limit counts 0).
      type: dict
      sample: {containers: 3, volumes: 1, cpus: 1.5, memory: 1610612736}
    available:
      description: What is left under each quota (never below 0); V(null) for an unlimited quota.
      type: dict
      sample: {containers: 17, volumes: 9, cpus: 6.5, memory: 15569256448}
    over_quota:
      description: One sentence per quota the namespace already uses more of than allowed (after the quota was lowered).
      type: list
      elements: str
      sample: ['containers: 3 in use, quota 2']
    status:
      description: State of the namespace rolled up from its services (C(Active), C(Registering), C(Unhealthy), C(Stopped), C(Empty)).
      type: str
      sample: Active
    volumes:
      description: Names of the volumes labelled for the namespace.
      type: list
      elements: str
      sample: [shop-db-data]
    services:
      description: The services of the namespace, sorted by name.
      type: list
      elements: dict
      contains:
        name:
          description: Service name (the C(io.hna.cloudos.service) label, or the container name without it).
          type: str
          sample: api
        containers:
          description: Names of the containers of the service.
          type: list
          elements: str
          sample: [shop-api-1, shop-api-2]
        replicas:
          description: Number of containers of the service.
          type: int
          sample: 2
        state:
          description: State of the service (C(Active), C(Registering), C(Unhealthy), C(Stopped), C(Exited)).
          type: str
          sample: Active
        exit_code:
          description: With C(Exited), the exit code of the first exited container; otherwise V(null).
          type: int
          sample: 3
        dns_names:
          description: Names the service is reached by from the other containers of the namespace.
          type: list
          elements: str
          sample: [api.shop, api]
        ports:
          description:
            - Published ports of the containers, as C(host_ip:host_port->port/protocol). For a container that does not
              run, the ports it publishes when running.
          type: list
          elements: str
          sample: ['127.0.0.1:8080->80/tcp']
        image:
          description: Image of the first container, as given when it was created.
          type: str
          sample: registry.example.com/shop/api:1.4
        image_id:
          description: ID of that image.
          type: str
          sample: sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6
        image_digest:
          description: Repository digest of that image (V(null) for an image that was never pushed or pulled).
          type: str
          sample: registry.example.com/shop/api@sha256:10d1f5b58f74683ad34eb29287e07dab1e90f10af243f151bb50aa5dbb4d62ee
        created:
          description: Creation time of the oldest container, in UTC.
          type: str
          sample: '2024-05-02T08:16:02Z'
        started:
          description: Latest start time of its containers, in UTC (V(null) if none was ever started).
          type: str
          sample: '2024-05-02T08:16:03Z'
        instances:
          description: Details of each container of the service.
          type: list
          elements: dict
          contains:
            name:
              description: Container name.
              type: str
              sample: shop-api-1
            id:
              description: Container ID.
              type: str
              sample: 3b1c9a5c1f2e5f0d9b4a7e6c8d2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f
            replica:
              description: Replica number (the C(io.hna.cloudos.replica) label), or V(null).
              type: int
              sample: 1
            state:
              description: State of the container (C(Active), C(Registering), C(Unhealthy), C(Stopped), C(Exited)).
              type: str
              sample: Active
            docker_state:
              description: State as Docker says it (C(created), C(running), C(paused), C(restarting), C(exited), C(dead)).
              type: str
              sample: running
            health:
              description: Health check status (C(starting), C(healthy), C(unhealthy)), or V(null) without health check.
              type: str
              sample: healthy
            exit_code:
              description: Last exit code Docker recorded for the container.
              type: int
              sample: 0
            ipv4_address:
              description: Address of the container on the namespace network (V(null) when it does not run or is not attached).
              type: str
              sample: 10.240.0.3
            image:
              description: Image of the container, as given when it was created.
              type: str
              sample: registry.example.com/shop/api:1.4
            image_id:
              description: ID of that image.
              type: str
              sample: sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6
            created:
              description: Creation time, in UTC.
              type: str
              sample: '2024-05-02T08:16:02Z'
            started:
              description: Last start time, in UTC (V(null) if never started).
              type: str
              sample: '2024-05-02T08:16:03Z'
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._namespace_info import (
    NAMESPACE_INFO_MODULE_KWARGS,
    namespace_info_argument_spec,
    run_namespace_info,
)


def main():
    run_namespace_info(DockerClient(argument_spec=namespace_info_argument_spec(), **NAMESPACE_INFO_MODULE_KWARGS))


if __name__ == '__main__':
    main()
