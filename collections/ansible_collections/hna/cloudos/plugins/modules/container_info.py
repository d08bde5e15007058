#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: container_info
short_description: Read facts about one Docker container, or list containers by label or namespace
version_added: 0.1.0
description:
  - With O(name), tells whether that container exists and returns its facts.
  - Without O(name), returns the facts of every container that has all the given O(labels) and belongs to O(namespace)
    (when given), sorted by name.
  - Never changes anything on the engine.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name (or ID) of one container.
      - Cannot be combined with O(labels), O(namespace) or O(all).
    type: str
  labels:
    description:
      - Only list containers that have all these labels. An entry is V(KEY) (any value) or V(KEY=VALUE).
    type: list
    elements: str
  namespace:
    description:
      - Only list containers of this namespace (label C(io.hna.cloudos.namespace)).
      - A lowercase DNS label of 1 to 63 characters, as M(hna.cloudos.namespace) requires; another name fails.
    type: str
  all:
    description:
      - List stopped and created containers too, not only the running ones.
    type: bool
    default: true
  env_visible:
    description:
      - "Names of environment variables whose values are safe to show. The values of all the others (those the container was
        given and those of its image) never appear in what the module returns: the C(env) of RV(container) and of each of
        RV(containers) shows their names with the value V((hidden)), as M(hna.cloudos.container) does."
    type: list
    elements: str
    default: []
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
seealso:
  - module: hna.cloudos.container
"""

EXAMPLES = r"""
- name: Read the facts of the container web
  hna.cloudos.container_info:
    name: web
  register: web_info

- name: Show whether it runs, and its health
  ansible.builtin.debug:
    msg: "{{ web_info.container.status | default('absent') }} {{ web_info.container.health | default('') }}"
  when: web_info.exists

- name: List the containers of the namespace shop
  hna.cloudos.container_info:
    namespace: shop
  register: shop_containers

- name: Show their names and states
  ansible.builtin.debug:
    msg: "{{ shop_containers.containers | map(attribute='name') | zip(shop_containers.containers | map(attribute='status')) | list }}"

- name: Read the container db, showing the values of two harmless environment variables
  hna.cloudos.container_info:
    name: db
    env_visible: [TZ, LOG_LEVEL]
  register: db_info

- name: List the running containers labelled tier=frontend
  hna.cloudos.container_info:
    labels:
      - tier=frontend
    all: false
  register: frontends
"""

RETURN = r"""
exists:
  description: Whether the container named O(name) exists.
  returned: with O(name)
  type: bool
  sample: true
container:
  description:
    - Facts of the container named O(name); empty when it does not exist. The keys are those of the RV(containers) entries.
  returned: with O(name)
  type: dict
  sample: {name: web, status: running, health: healthy, image: nginx:1.25}
containers:
  description: Facts of the containers found, sorted by name.
  returned: without O(name)
  type: list
  elements: dict
  contains:
    id:
      description: Container ID.
      type: str
      sample: 3f2a9c1e0b8d7a6c4e3f2b1a0d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
    name:
      description: Container name.
      type: str
      sample: web
    image:
      description: Image reference the container was created from.
      type: str
      sample: nginx:1.25
    image_id:
      description: ID of that image.
      type: str
      sample: sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6
    created:
      description: Creation time, as the engine gives it.
      type: str
      sample: '2024-01-15T10:00:00.000000000Z'
    status:
      description: State of the container (V(created), V(running), V(paused), V(restarting), V(exited), V(dead)).
      type: str
      sample: running
    running:
      description: Whether the container runs.
      type: bool
      sample: true
    health:
      description: Health (V(starting), V(healthy), V(unhealthy)), or V(null) without a health check.
      type: str
      sample: healthy
    health_log:
      description: Output of the last health check, or V(null).
      type: str
      sample: ''
    exit_code:
      description: Exit code of the last run (0 while running).
      type: int
      sample: 0
    started_at:
      description: Time of the last start, as the engine gives it.
      type: str
      sample: '2024-01-15T10:00:01.000000000Z'
    restart_count:
      description: How many times the engine restarted the container.
      type: int
      sample: 0
    command:
      description: Command the container runs.
      type: list
      elements: str
      sample: [nginx, -g, daemon off;]
    entrypoint:
      description: Entrypoint of the container.
      type: list
      elements: str
      sample: [/docker-entrypoint.sh]
    env:
      description:
        - Environment of the container, by name. The values are V((hidden)), but for the names in O(env_visible).
      type: dict
      sample: {PATH: /usr/local/bin:/usr/bin:/bin, DB_PASSWORD: (hidden)}
    labels:
      description: Labels of the container.
      type: dict
      sample: {io.hna.cloudos.managed: 'true'}
    namespace:
      description: Namespace of the container, or V(null).
      type: str
      sample: shop
    service:
      description: Service name of the container in its namespace, or V(null).
      type: str
      sample: db
    networks:
      description: Networks of the container, by name, with C(ip_address), C(aliases), C(gateway) and C(mac_address).
      type: dict
      sample: {shop: {ip_address: 10.240.5.2, aliases: [db, db.shop], gateway: 10.240.5.1, mac_address: '02:42:0a:f0:05:02'}}
    ports:
      description: Ports published while the container runs.
      type: list
      elements: dict
      sample: [{container_port: 80, protocol: tcp, host_ip: 127.0.0.1, host_port: 8080}]
    mounts:
      description: Mounts of the container.
      type: list
      elements: dict
      sample: [{type: volume, source: shop_db, target: /var/lib/mysql, read_only: false}]
    memory:
      description: Memory limit in bytes, or V(null).
      type: int
      sample: 268435456
    cpus:
      description: CPU limit, or V(null).
      type: float
      sample: 0.5
    restart_policy:
      description: Restart policy.
      type: dict
      sample: {name: unless-stopped, max_retries: 0}
"""

from ansible_collections.hna.cloudos.plugins.module_utils._container_info import (
    CONTAINER_INFO_MODULE_KWARGS,
    container_info_argument_spec,
    run_container_info,
)
from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient


def main():
    run_container_info(DockerClient(argument_spec=container_info_argument_spec(), **CONTAINER_INFO_MODULE_KWARGS))


if __name__ == '__main__':
    main()
