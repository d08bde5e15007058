#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: images
short_description: Pull, tag or push many Docker images in one task, comparing by digest
version_added: 0.1.0
description:
  - Does for each image of a list what M(hna.cloudos.image) does for one (without builds or removals) - gets it (as the
    engine has it, or pulled from its registry when the registry's digest differs from the local one), optionally tags it
    into another repository and pushes it when the registry's digest of the tag differs.
  - One module run, one connection to the engine and one read of the registry credentials serve the whole list, so a
    list of images costs a fraction of a loop over M(hna.cloudos.image), which starts the module once per image. A rerun
    that finds every digest the same asks the registry once per image and changes nothing.
  - Every image of the list is tried. When any failed, the task fails after the last one with a message that names each
    failed image and why, and returns what was done for the others.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  images:
    description:
      - The images, in the order they are handled. Each target reference (O(images[].repository):O(images[].tag), or
        O(images[].name) without a repository) may appear once.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The source image on the engine, as C(repository[:tag]) (with O(source=pull), the image pulled from its
            registry). A reference without tag means C(latest).
        type: str
        required: true
      repository:
        description:
          - Repository to tag the image into, including the registry for a push, without a tag (see O(images[].tag)).
          - Not set means O(images[].name) itself is the image pushed (O(push=true)).
        type: str
      tag:
        description:
          - Tag in O(images[].repository). Only used with O(images[].repository).
        type: str
        default: latest
  source:
    description:
      - V(local) uses each image as the engine has it; an image the engine does not have fails.
      - V(pull) pulls each image from its registry when the registry's digest differs from the local one (or the image is
        missing locally).
    type: str
    choices: [local, pull]
    default: local
  force_source:
    description:
      - With O(source=pull), pull even when the local image already has the registry's digest. An image counts as changed
        only when its ID or its digests changed.
    type: bool
    default: false
  push:
    description:
      - Push each image (O(images[].repository):O(images[].tag), or O(images[].name)) to its registry, unless the registry
        already has this image under that tag (same manifest digest).
    type: bool
    default: false
  config_path:
    description:
      - Docker client configuration file that holds the registry credentials (its C(auths) entries), as written by
        M(hna.cloudos.registry_login) or C(docker login).
      - Not set means C($DOCKER_CONFIG/config.json), or C(~/.docker/config.json) of the user running the module.
    type: path
  parallel:
    description:
      - How many images are handled at the same time (their registry questions, pulls and pushes). V(1) handles them one
        after the other. The results keep the order of O(images) either way.
    type: int
    default: 4
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
attributes:
  check_mode:
    support: full
    details:
      - Nothing is pulled, tagged or pushed; the registry is asked for its digests, so each pull or push that would happen
        is reported.
  diff_mode:
    support: full
    details:
      - One diff per changed image, with its image ID and registry digest before and after.
  platform:
    support: full
    platforms: posix
  idempotent:
    description: Whether running the task again with the same options changes nothing.
    support: full
seealso:
  - module: hna.cloudos.image
    description: One image, including builds and removals.
"""

EXAMPLES = r"""
- name: Push the images the control machine built into the team's registry (only those whose digest differs)
  hna.cloudos.images:
    images:
      - name: apps/web:1.4
        repository: registry.example.com:5000/apps/web
        tag: "1.4"
      - name: apps/worker:1.4
        repository: registry.example.com:5000/apps/worker
        tag: "1.4"
    push: true
    config_path: /srv/cloudos/docker-config/config.json

- name: Pull what a node runs (a rerun asks the registry and pulls nothing)
  hna.cloudos.images:
    images:
      - name: registry.example.com:5000/apps/web:1.4
      - name: registry.example.com:5000/apps/worker:1.4
    source: pull
  register: pulled

- name: Say what changed
  ansible.builtin.debug:
    msg: "{{ pulled.images | selectattr('changed') | map(attribute='name') | list }}"
"""

RETURN = r"""
images:
  description:
    - One entry per image of O(images), in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The image as given (O(images[].name)).
      type: str
      sample: apps/web:1.4
    reference:
      description: The image tagged, pulled or pushed (O(images[].repository):O(images[].tag), or the name with its tag).
      type: str
      sample: registry.example.com:5000/apps/web:1.4
    actions:
      description:
        - What was done (or would be, in check mode), in order; empty when nothing changed.
        - V(pulled), V(tagged), V(pushed).
      type: list
      elements: str
      sample: [tagged, pushed]
    digest:
      description:
        - The registry's manifest digest of the pushed tag or the pulled image after the task (in check mode, before it).
          Null when the registry was not asked.
      type: str
      sample: sha256:9ef70cd9d1dbd068aca947a810cd93f68eea1083c0d95d8a10a051aa8cb460a3
    id:
      description: The image ID on the engine after the task (in check mode, before it; null when it is not there yet).
      type: str
      sample: sha256:5f1c2f8ee36dcd5e3b21a6f2a92b8fdfd2ad1b9e94a7c18b2ac8e9f8b0c4c0a1
    changed:
      description: Whether this image changed.
      type: bool
      sample: true
    failed:
      description: Present and true for an image that failed (the task then fails after the last image).
      type: bool
      sample: true
counts:
  description: How many images there were, changed and failed.
  returned: always
  type: dict
  sample: {total: 9, changed: 1, failed: 0}
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._image_task import (
    IMAGES_MODULE_KWARGS,
    images_argument_spec,
    run_images,
)


def main():
    run_images(DockerClient(argument_spec=images_argument_spec(), **IMAGES_MODULE_KWARGS))


if __name__ == '__main__':
    main()
