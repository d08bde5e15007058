# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of hna.cloudos.app_catalog_info: lists the catalog on the controller, where it lives.

Nothing runs on the target host: the catalog is ``catalog_path`` or the collection's own ``catalog`` directory."""

from __future__ import annotations

import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.hna.cloudos.plugins.action.app import COLLECTION_CATALOG
from ansible_collections.hna.cloudos.plugins.module_utils._catalog import CatalogError, list_catalog

ARGUMENT_SPEC = dict(
    name=dict(type='str'),
    version=dict(type='str'),
    catalog_path=dict(type='path'),
)


def catalog_info(catalog, name=None, version=None):
    """The module's result for the catalog directory ``catalog``."""
    apps, problems = list_catalog(catalog, name=name, version=version)
    result = dict(changed=False, catalog=catalog, apps=apps, problems=problems)
    if name is not None and not apps and not problems:
        have = sorted(entry for entry in os.listdir(catalog) if os.path.isdir(os.path.join(catalog, entry)))
        wanted = name if version is None else '%s %s' % (name, version)
        result.update(failed=True, msg='the catalog %s has no %s (its apps: %s)' % (catalog, wanted, ', '.join(have) or 'none'))
    return result


class ActionModule(ActionBase):
    """Read the catalog on the controller and return its apps; changes nothing anywhere."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            result.update(failed=True, changed=False, msg='; '.join(validation.error_messages))
            return result
        args = validation.validated_parameters
        catalog = os.path.expanduser(args['catalog_path'] or COLLECTION_CATALOG)
        try:
            result.update(catalog_info(catalog, args['name'], args['version']))
        except (CatalogError, OSError) as exc:
            result.update(failed=True, changed=False, msg=to_native(exc))
        return result
