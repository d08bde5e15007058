# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of hna.cloudos.app: reads the catalog entry on the controller and hands it to the module.

The entry is ``<catalog>/<app>/<version>.yml``, the catalog being ``catalog_path`` or the collection's own ``catalog``
directory. A missing entry fails in one line that lists the versions the catalog has for the app."""

from __future__ import annotations

import os
import re

import yaml

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.hna.cloudos.plugins.module_utils._catalog import load_entry_file

#: The collection's own catalog (``catalog/`` at the root of the collection).
COLLECTION_CATALOG = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'catalog')
_PART_RE = re.compile(r'^[a-z0-9][a-z0-9._-]{0,63}$')


def available(directory):
    """The sorted entries (file names without .yml) of one catalog directory; empty when there is none."""
    if not os.path.isdir(directory):
        return []
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith('.yml'))


def entry_path(catalog, app, version):
    """The file of entry ``app`` ``version`` in ``catalog``; raise ``AnsibleActionFail`` in one line when it is missing."""
    for label, value in (('app', app), ('version', version)):
        if not isinstance(value, str) or not _PART_RE.match(value) or '..' in value:
            raise AnsibleActionFail('%s %r is not a catalog %s name (lower-case letters, digits, ".", "_" and "-")'
                                    % (label, value, label))
    path = os.path.join(catalog, app, version + '.yml')
    if not os.path.isfile(path):
        apps = [name for name in sorted(os.listdir(catalog)) if os.path.isdir(os.path.join(catalog, name))] if os.path.isdir(catalog) else []
        if app not in apps:
            raise AnsibleActionFail('the catalog %s has no app %s (it has: %s)' % (catalog, app, ', '.join(apps) or 'none'))
        raise AnsibleActionFail('the catalog %s has no version %s of %s (it has: %s)' % (
            catalog, version, app, ', '.join(available(os.path.join(catalog, app))) or 'none'))
    return path


def read_entry(path):
    """The entry of ``path`` as a dict (YAML); raise ``AnsibleActionFail`` naming the file."""
    try:
        entry = load_entry_file(path)
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleActionFail('cannot read the catalog entry %s: %s' % (path, to_native(exc).splitlines()[0]))
    if not isinstance(entry, dict):
        raise AnsibleActionFail('the catalog entry %s is not a mapping' % path)
    return entry


class ActionModule(ActionBase):
    """Read the entry, then run the module with it."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            if args.get('state', 'present') == 'present' and not args.get('entry'):
                if not args.get('app') or not args.get('version'):
                    raise AnsibleActionFail('app and version name the catalog entry to deploy (or give the entry itself)')
                catalog = args.get('catalog_path') or COLLECTION_CATALOG
                args['entry'] = read_entry(entry_path(os.path.expanduser(catalog), args['app'], str(args['version'])))
        except AnsibleActionFail as exc:
            result.update(failed=True, changed=False, msg=to_native(exc.message))
            return result
        result.update(self._execute_module(module_name='hna.cloudos.app', module_args=args, task_vars=task_vars))
        return result
