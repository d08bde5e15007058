# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: path_matching
short_description: Whether a path read by M(hna.cloudos.path_info) is what a task would make of it
version_added: 0.1.0
description:
  - True when the path exists with every property given (type, owner, group, mode, content or checksum); false when it
    is missing or any of them differs. A property that is not given is not compared.
  - Made to skip the M(ansible.builtin.file), M(ansible.builtin.copy) or M(ansible.builtin.template) task of a path that
    already is what the task would make of it, without a module run on the host for it.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
positional: _input
options:
  _input:
    description: One entry of RV(hna.cloudos.path_info#module:paths).
    type: dict
    required: true
  type:
    description:
      - V(file) or V(directory). Default - V(file) when O(content) or O(checksum) is given, else not compared.
    type: str
  owner:
    description: Owner's name or uid.
    type: str
  group:
    description: Group's name or gid.
    type: str
  mode:
    description: Permission bits in octal, such as V('0644') (a string, or an integer written in octal such as C(0o644)).
    type: raw
  content:
    description:
      - The content the file must have, as the task would write it (for a template, the rendered template; for a copied
        file, its content read without stripping the last newline). Compared by its SHA-1 checksum.
    type: str
  checksum:
    description: SHA-1 checksum the content must have.
    type: str
"""

EXAMPLES = r"""
- name: Write the configuration only when it differs
  ansible.builtin.template:
    src: app.conf.j2
    dest: /etc/app/app.conf
    owner: root
    group: root
    mode: "0644"
  when: >-
    __paths.paths['/etc/app/app.conf'] is not hna.cloudos.path_matching(owner='root', group='root', mode='0644',
    content=lookup('ansible.builtin.template', 'app.conf.j2'))
"""

RETURN = r"""
_value:
  description: Whether the path matches.
  type: bool
"""

import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes


def _mode(value):
    if isinstance(value, int):
        return '%04o' % value
    text = str(value).strip()
    try:
        return '%04o' % int(text, 8)
    except ValueError:
        raise AnsibleFilterError('path_matching: mode must be octal digits such as 0644, not %r' % (value, ))


def path_matching(facts, type=None, owner=None, group=None, mode=None, content=None, checksum=None):  # pylint: disable=redefined-builtin
    """Return whether ``facts`` (one entry of path_info's paths) has every property given."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError('path_matching: expects one entry of hna.cloudos.path_info paths, not %r' % (facts, ))
    if not facts.get('exists'):
        return False
    if content is not None:
        checksum = hashlib.sha1(to_bytes(content, errors='surrogate_or_strict')).hexdigest()
    if type is None and checksum is not None:
        type = 'file'
    if type is not None and facts.get('type') != type:
        return False
    if owner is not None and str(owner) not in (facts.get('owner'), str(facts.get('uid'))):
        return False
    if group is not None and str(group) not in (facts.get('group'), str(facts.get('gid'))):
        return False
    if mode is not None and facts.get('mode') != _mode(mode):
        return False
    if checksum is not None and facts.get('checksum') != checksum:
        return False
    return True


class TestModule(object):
    """The collection's tests."""

    def tests(self):
        return {'path_matching': path_matching}
