#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_host_info
short_description: Read facts about a Docker engine and, optionally, its objects
version_added: 0.1.0
description:
  - Connects to a Docker engine and returns what it says about itself in RV(host_info) (versions, operating system,
    storage, logging and cgroup drivers, registry settings, and how many containers, images, networks and volumes it has).
  - Optionally also returns short summaries of its containers, images, networks and volumes.
  - Fails with a one-line message when the engine cannot be reached, when TLS fails, when the engine or the requested
    API version is older than Docker Engine 20.10 (API 1.41), or when the Docker SDK for Python is missing.
  - Never changes anything on the engine.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  containers:
    description:
      - Also return RV(containers), a summary of the containers.
      - Only running containers are listed unless O(containers_all=true).
    type: bool
    default: false
  containers_all:
    description:
      - With O(containers=true), list stopped, created and paused containers too, not only the running ones.
      - Has no effect without O(containers=true).
    type: bool
    default: false
  images:
    description:
      - Also return RV(images), a summary of the tagged and untagged top-level images (intermediate layers are left out).
    type: bool
    default: false
  networks:
    description:
      - Also return RV(networks), a summary of the networks.
    type: bool
    default: false
  volumes:
    description:
      - Also return RV(volumes), a summary of the volumes.
    type: bool
    default: false
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
  - name: Docker Engine API reference
    description: What the engine returns for C(/info) and C(/version), on which this module relies.
    link: https://docs.docker.com/reference/api/engine/
"""

EXAMPLES = r"""
- name: Read the facts of the local Docker engine
  hna.cloudos.docker_host_info:
  register: docker_host

- name: Show the engine version and how many containers run
  ansible.builtin.debug:
    msg: >-
      Docker {{ docker_host.docker_version }} (API {{ docker_host.api_version }}),
      {{ docker_host.host_info.containers_running }} of {{ docker_host.host_info.containers }} containers running

- name: Refuse to go on with a storage driver other than overlay2
  ansible.builtin.assert:
    that:
      - docker_host.host_info.storage_driver == 'overlay2'
    fail_msg: "The engine uses the {{ docker_host.host_info.storage_driver }} storage driver"

- name: List all containers, stopped ones included, and the images
  hna.cloudos.docker_host_info:
    containers: true
    containers_all: true
    images: true
  register: docker_objects

- name: Show the names of the stopped containers
  ansible.builtin.debug:
    msg: "{{ docker_objects.containers | selectattr('state', 'equalto', 'exited') | map(attribute='names') | flatten }}"

- name: Read a remote engine over TLS with a client certificate
  hna.cloudos.docker_host_info:
    docker_host: tcp://docker01.example.com:2376
    validate_certs: true
    ca_path: /etc/docker/certs/ca.pem
    client_cert: /etc/docker/certs/cert.pem
    client_key: /etc/docker/certs/key.pem
  register: remote_engine

- name: Set the connection once for every Docker module of the collection
  module_defaults:
    group/hna.cloudos.docker:
      docker_host: unix:///run/user/1000/docker.sock
      timeout: 30
  block:
    - name: Read the facts of the rootless engine
      hna.cloudos.docker_host_info:
      register: rootless_engine
"""

RETURN = r"""
docker_version:
  description: Version of the Docker engine, the same as RV(host_info.docker_version).
  returned: success
  type: str
  sample: 24.0.7
api_version:
  description: Newest Docker API version the engine supports, the same as RV(host_info.api_version).
  returned: success
  type: str
  sample: '1.43'
host_info:
  description: Facts about the Docker engine, from its C(/version) and C(/info) answers.
  returned: success
  type: dict
  contains:
    docker_version:
      description: Version of the Docker engine.
      type: str
      sample: 24.0.7
    api_version:
      description: Newest Docker API version the engine supports.
      type: str
      sample: '1.43'
    min_api_version:
      description: Oldest Docker API version the engine accepts.
      type: str
      sample: '1.12'
    api_version_used:
      description: Docker API version the module used to talk to the engine (see O(api_version)).
      type: str
      sample: '1.43'
    git_commit:
      description: Source commit the engine was built from.
      type: str
      sample: 311b9ff
    go_version:
      description: Go version the engine was built with.
      type: str
      sample: go1.20.10
    name:
      description: Host name of the machine the engine runs on.
      type: str
      sample: docker01
    operating_system:
      description: Operating system of the engine host, as the engine describes it.
      type: str
      sample: Debian GNU/Linux 12 (bookworm)
    os_type:
      description: Operating system family of the engine.
      type: str
      sample: linux
    kernel_version:
      description: Kernel version of the engine host.
      type: str
      sample: 6.1.0-13-amd64
    architecture:
      description: Hardware architecture of the engine host, as the kernel reports it.
      type: str
      sample: x86_64
    ncpu:
      description: Number of CPUs of the engine host.
      type: int
      sample: 8
    mem_total:
      description: Memory of the engine host, in bytes.
      type: int
      sample: 16663646208
    docker_root_dir:
      description: Directory where the engine keeps its data.
      type: str
      sample: /var/lib/docker
    storage_driver:
      description: Storage driver of the engine.
      type: str
      sample: overlay2
    logging_driver:
      description: Default logging driver of the containers.
      type: str
      sample: json-file
    cgroup_driver:
      description: Cgroup driver of the engine.
      type: str
      sample: systemd
    cgroup_version:
      description: Cgroup version of the engine host (V(1) or V(2)); empty if the engine does not say.
      type: str
      sample: '2'
    live_restore:
      description: Whether containers keep running while the engine restarts.
      type: bool
      sample: false
    registry_mirrors:
      description: Registry mirrors the engine uses for Docker Hub.
      type: list
      elements: str
      sample: [https://mirror.example.com/]
    insecure_registries:
      description: Registries (names and CIDR ranges) the engine reaches without TLS verification.
      type: list
      elements: str
      sample: [registry.example.com:5000, 127.0.0.0/8]
    swarm_state:
      description: State of the engine in a swarm (V(inactive), V(active), V(pending), V(error), V(locked)).
      type: str
      sample: inactive
    containers:
      description: Number of containers, in any state.
      type: int
      sample: 12
    containers_running:
      description: Number of running containers.
      type: int
      sample: 10
    containers_paused:
      description: Number of paused containers.
      type: int
      sample: 0
    containers_stopped:
      description: Number of stopped containers.
      type: int
      sample: 2
    images:
      description: Number of images.
      type: int
      sample: 25
    networks:
      description: Number of networks, the predefined C(bridge), C(host) and C(none) included.
      type: int
      sample: 5
    volumes:
      description: Number of volumes.
      type: int
      sample: 7
containers:
  description: Summary of the containers, the running ones only unless O(containers_all=true).
  returned: when O(containers=true)
  type: list
  elements: dict
  contains:
    id:
      description: Full container ID.
      type: str
      sample: 3b1c9a5c1f2e5f0d9b4a7e6c8d2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f
    names:
      description: Names of the container, without the leading slash.
      type: list
      elements: str
      sample: [web]
    image:
      description: Image the container was created from, as given at creation.
      type: str
      sample: nginx:1.25
    image_id:
      description: ID of that image.
      type: str
      sample: sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6
    state:
      description: State of the container (V(created), V(running), V(paused), V(restarting), V(exited), V(dead), V(removing)).
      type: str
      sample: running
    status:
      description: Human-readable status, as C(docker ps) shows it.
      type: str
      sample: Up 2 hours
    created:
      description: Creation time, in seconds since the Unix epoch.
      type: int
      sample: 1700000000
images:
  description: Summary of the images.
  returned: when O(images=true)
  type: list
  elements: dict
  contains:
    id:
      description: Image ID.
      type: str
      sample: sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6
    tags:
      description: Tags of the image (empty for an untagged image).
      type: list
      elements: str
      sample: [nginx:1.25, nginx:latest]
    digests:
      description: Repository digests of the image.
      type: list
      elements: str
      sample: [nginx@sha256:10d1f5b58f74683ad34eb29287e07dab1e90f10af243f151bb50aa5dbb4d62ee]
    size:
      description: Size of the image, in bytes.
      type: int
      sample: 187000000
    created:
      description: Creation time, in seconds since the Unix epoch.
      type: int
      sample: 1700000000
networks:
  description: Summary of the networks.
  returned: when O(networks=true)
  type: list
  elements: dict
  contains:
    id:
      description: Network ID.
      type: str
      sample: 9a2f1c0e5b8d7a6c4e3f2b1a0d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
    name:
      description: Network name.
      type: str
      sample: bridge
    driver:
      description: Network driver.
      type: str
      sample: bridge
    scope:
      description: Scope of the network (V(local), V(global) or V(swarm)).
      type: str
      sample: local
    internal:
      description: Whether the network is cut off from outside networks.
      type: bool
      sample: false
volumes:
  description: Summary of the volumes.
  returned: when O(volumes=true)
  type: list
  elements: dict
  contains:
    name:
      description: Volume name.
      type: str
      sample: db_data
    driver:
      description: Volume driver.
      type: str
      sample: local
    mountpoint:
      description: Where the volume lies on the engine host.
      type: str
      sample: /var/lib/docker/volumes/db_data/_data
    scope:
      description: Scope of the volume (V(local) or V(global)).
      type: str
      sample: local
    created_at:
      description: Creation time, as the engine gives it.
      type: str
      sample: '2024-01-15T10:00:00Z'
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._docker_host_info import (
    DOCKER_HOST_INFO_MODULE_KWARGS,
    docker_host_info_argument_spec,
    run_docker_host_info,
)


def main():
    run_docker_host_info(DockerClient(argument_spec=docker_host_info_argument_spec(), **DOCKER_HOST_INFO_MODULE_KWARGS))


if __name__ == '__main__':
    main()
