#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image
short_description: Build, tag, push, pull or remove a Docker image, comparing by digest
version_added: 0.1.0
description:
  - Gets an image on the Docker engine (already there, built from a context, or pulled from its registry), optionally tags
    it into another repository and pushes it to a registry; or removes a tag from the engine.
  - Work is only done when it changes something. A build runs at each run (the build cache of the engine makes an
    unchanged build cheap) and counts as a change only when it gives a new image ID. A push is made only when the
    registry's manifest digest of the tag differs from the digest the engine recorded for the image in that repository
    (C(RepoDigests)). A pull is made only when the registry's digest differs from the local image's.
  - The registry's digest is read through the Docker engine, so the engine's own TLS trust and insecure-registry settings
    apply. Credentials are read from the Docker client configuration file (see O(config_path)), as written by
    M(hna.cloudos.registry_login) or C(docker login).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  name:
    description:
      - The source image on the engine, as C(repository[:tag]) (for example V(apps/web:1.4) or
        V(registry.example.com:5000/apps/web)). A reference without tag means C(latest).
      - With O(source=build), the built image gets this name; with O(source=pull), this image is pulled from its registry.
    type: str
    required: true
  source:
    description:
      - V(local) uses the image O(name) as the engine has it; the task fails when the engine does not have it.
      - V(build) builds O(name) from the context described in O(build).
      - V(pull) pulls O(name) from its registry when the registry's digest differs from the local one (or the image is
        missing locally).
      - Not used with O(state=absent).
    type: str
    choices: [local, build, pull]
    default: local
  build:
    description:
      - How to build the image, with O(source=build).
      - The build uses the engine's classic builder. The context is read on the host that runs the module, and its
        C(.dockerignore) is honoured (the Dockerfile and C(.dockerignore) themselves are always sent, as the Docker CLI does).
    type: dict
    suboptions:
      path:
        description:
          - Directory of the build context.
        type: path
        required: true
      dockerfile:
        description:
          - Path of the Dockerfile, relative to O(build.path).
        type: str
        default: Dockerfile
      args:
        description:
          - Build arguments (C(ARG) in the Dockerfile). Values are turned into strings.
          - The values are passed to the build but never appear in what the module returns (the invocation shown with
            C(-vvv) shows the names with V((hidden))), unless their names are in O(build_args_visible). Where the build
            output (RV(build_output)) or an error message quotes such a value, it is replaced by V((hidden)).
        type: dict
      target:
        description:
          - Build stage to stop at, in a multi-stage Dockerfile.
        type: str
      labels:
        description:
          - Labels added to the built image.
          - The module adds the label C(io.hna.cloudos.build-context-hash), a hash of the build inputs, to predict in check
            mode whether a build would change the image.
        type: dict
      pull:
        description:
          - Pull newer versions of the base images (C(FROM)) from their registries during the build.
        type: bool
        default: false
      nocache:
        description:
          - Build without the build cache. The resulting image then usually gets a new ID, which is a change.
        type: bool
        default: false
  build_args_visible:
    description:
      - Names of build arguments (O(build.args)) whose values are safe to show in the results and the invocation, and that
        are left as they are in the build output and error messages.
      - Name here the arguments with short, harmless values such as V(1) or V(true). Every occurrence of a hidden value in
        the build output is replaced, which would garble the output for such values.
    type: list
    elements: str
    default: []
  force_source:
    description:
      - With O(source=pull), pull even when the local image already has the registry's digest. The task still reports a
        change only when the image ID or its digests changed.
    type: bool
    default: false
  repository:
    description:
      - Repository to tag the image into, including the registry for a push, such as V(127.0.0.1:5000/apps/web) or
        V(registry.example.com/team/app). No tag here; see O(tag).
      - The tag O(repository):O(tag) is moved to the image O(name) when it points to another image.
      - Not set means O(name) itself is the image that is pushed (O(push)) or removed (O(state=absent)).
    type: str
  tag:
    description:
      - Tag in O(repository). Only used with O(repository).
    type: str
    default: latest
  push:
    description:
      - Push O(repository):O(tag) (or O(name) without O(repository)) to its registry, unless the registry already has
        this image under that tag (same manifest digest).
    type: bool
    default: false
  state:
    description:
      - V(present) makes sure the image is on the engine (and tagged, and pushed, as the other options say).
      - V(absent) removes the tag O(repository):O(tag) (or O(name) without O(repository)) from the engine. The image itself
        goes when no other tag refers to it. An image used by a container is not removed (the task fails). Nothing is
        removed from any registry.
    type: str
    choices: [present, absent]
    default: present
  config_path:
    description:
      - Docker client configuration file that holds the registry credentials (its C(auths) entries).
      - Not set means C($DOCKER_CONFIG/config.json), or C(~/.docker/config.json) of the user running the module.
      - A registry without an entry is accessed without credentials.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is built, tagged, pushed, pulled or removed. The registry is asked for its digest, so a push
        or pull that would happen is reported as a change.
      - A build is predicted by comparing a hash of the build inputs (context files, Dockerfile, build arguments, target and
        labels) with the label the module put on the image at its last build; a changed base image is not seen.
  diff_mode:
    support: full
    details:
      - The diff shows the image ID and the registry digest before and after.
  platform:
    support: full
    platforms: posix
  idempotent:
    description: Whether running the task again with the same options changes nothing.
    support: partial
    details:
      - A build that does not use the build cache (O(build.nocache=true), or Dockerfile steps that give a different result
        each time) gives a new image at each run.
notes:
  - The image is built, pulled and pushed by the Docker engine, for the platform of the engine.
  - Hiding the values of the build arguments in the module's output does not make them secret in the image. The engine
    records the build arguments a C(RUN) instruction uses in the image history (C(docker history)); pass secrets to a
    build in another way.
  - Credential helpers (C(credsStore), C(credHelpers)) of the configuration file are not used; only C(auths) entries are.
seealso:
  - module: hna.cloudos.container
  - name: Docker Engine API reference
    description: The image build, tag, push, pull and distribution requests this module makes.
    link: https://docs.docker.com/reference/api/engine/
"""

EXAMPLES = r"""
- name: Log in to the registry (writes the credentials to ~/.docker/config.json)
  hna.cloudos.registry_login:
    registry_url: registry.example.com:5000
    username: ci
    password: "{{ registry_password }}"

- name: Build the web image and push it as registry.example.com:5000/apps/web:1.4
  hna.cloudos.image:
    name: apps/web:build
    source: build
    build:
      path: /srv/src/web
      args:
        APP_VERSION: "1.4"
        NPM_TOKEN: "{{ npm_token }}"
      target: runtime
    build_args_visible: [APP_VERSION]
    repository: registry.example.com:5000/apps/web
    tag: "1.4"
    push: true
  register: web_image

- name: Show the digest to deploy
  ansible.builtin.debug:
    msg: "registry.example.com:5000/apps/web@{{ web_image.digest }}"

- name: Get the image on another engine, pulling only when the registry has another digest
  hna.cloudos.image:
    name: registry.example.com:5000/apps/web:1.4
    source: pull

- name: Publish an image the engine already has under a second tag
  hna.cloudos.image:
    name: registry.example.com:5000/apps/web:1.4
    repository: registry.example.com:5000/apps/web
    tag: stable
    push: true

- name: Remove a tag from the engine
  hna.cloudos.image:
    name: apps/web:build
    state: absent
"""

RETURN = r"""
image:
  description:
    - The image O(repository):O(tag) (or O(name)) on the engine after the task; empty after a removal.
    - In check mode, the image as it is before the task (empty when it does not exist yet).
  returned: always
  type: dict
  contains:
    id:
      description: Image ID.
      type: str
      sample: sha256:5f1c2f8ee36dcd5e3b21a6f2a92b8fdfd2ad1b9e94a7c18b2ac8e9f8b0c4c0a1
    tags:
      description: All the tags of the image on the engine.
      type: list
      elements: str
      sample: [apps/web:build, registry.example.com:5000/apps/web:1.4]
    repo_digests:
      description: The registry digests the engine recorded for the image (after pushes and pulls), as C(repository@digest).
      type: list
      elements: str
      sample: [registry.example.com:5000/apps/web@sha256:9ef70cd9d1dbd068aca947a810cd93f68eea1083c0d95d8a10a051aa8cb460a3]
    size:
      description: Size of the image in bytes.
      type: int
      sample: 1984279
    created:
      description: When the image was created (RFC 3339).
      type: str
      sample: '2026-11-26T12:00:00.123456789Z'
    labels:
      description: Labels of the image.
      type: dict
      sample: {io.hna.cloudos.build-context-hash: 3f0a...}
  sample: {}
digest:
  description:
    - The registry's manifest digest of the image after the task, for the pushed tag (O(push=true)) or the pulled image
      (O(source=pull)). Null when the registry was not asked.
    - In check mode, the registry's digest before the task.
  returned: always
  type: str
  sample: sha256:9ef70cd9d1dbd068aca947a810cd93f68eea1083c0d95d8a10a051aa8cb460a3
actions:
  description:
    - What the task did (or would do, in check mode), in order; empty when nothing changed.
    - V(built) (the build gave a new image ID), V(pulled), V(tagged), V(pushed), V(removed).
  returned: always
  type: list
  elements: str
  sample: [built, tagged, pushed]
build_output:
  description:
    - The last lines (at most 200) of the build output. Empty without a build.
    - The values of the build arguments not named in O(build_args_visible) are replaced by V((hidden)).
  returned: always
  type: list
  elements: str
  sample: ['Step 1/3 : FROM busybox:1', ' ---> 5f1c2f8ee36d', 'Successfully built 8c3a0e6d7b11']
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._image_task import (
    IMAGE_MODULE_KWARGS,
    image_argument_spec,
    run_image,
)


def main():
    run_image(DockerClient(argument_spec=image_argument_spec(), **IMAGE_MODULE_KWARGS))


if __name__ == '__main__':
    main()
