# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of hna.cloudos.module_bundle: a module and its arguments as one file on the host.

The controller builds the module the way Ansible does before it runs one (the AnsiballZ wrapper:
the module, every module_util it imports and its arguments in one Python file), and installs that
file on the host only when its fingerprint differs from the one stored beside it. The host then
runs the module with `python3 <dest>`, without Ansible and without the control node."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version

ARGUMENT_SPEC = dict(
    module=dict(type='str', required=True),
    module_args=dict(type='dict', default={}),
    dest=dict(type='path', required=True),
    mode=dict(type='raw', default='0700'),
)

# The internal arguments Ansible adds to every module run, fixed here: the bundle runs later, alone,
# never in check or diff mode, and must not depend on the verbosity of the run that built it.
FIXED_INTERNAL_ARGS = dict(
    _ansible_check_mode=False,
    _ansible_no_log=False,
    _ansible_debug=False,
    _ansible_diff=False,
    _ansible_verbosity=0,
    _ansible_version=ansible_version,
    _ansible_syslog_facility='LOG_USER',
    _ansible_selinux_special_fs=['fuse', 'nfs', 'vboxsf', 'ramfs', '9p', 'vfat'],
    _ansible_socket=None,
    _ansible_shell_executable='/bin/sh',
    _ansible_keep_remote_files=False,
    _ansible_tmpdir=None,
    _ansible_remote_tmp='/tmp',
    _ansible_ignore_unknown_opts=False,
    _ansible_target_log_info=None,
    _ansible_tracebacks_for=[],
)


def payload_members(wrapper):
    """The (name, sha256) of every member of the zip embedded in an AnsiballZ wrapper, sorted.

    The zip records the time it was built; its member names and contents do not change between
    two builds of the same module."""
    text = to_text(wrapper)
    for line in text.splitlines():
        if line.startswith('zip_data='):
            data = ast.literal_eval(line[len('zip_data='):].rstrip(','))
            break
    else:
        raise ValueError('the module payload has no zip_data line')
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(data))) as archive:
        return sorted((info.filename, hashlib.sha256(archive.read(info.filename)).hexdigest())
                      for info in archive.infolist())


def fingerprint(module, module_args, shebang, members):
    """sha256 over the module name, its arguments (sorted JSON), the interpreter and the payload's
    member names and contents."""
    digest = hashlib.sha256()
    digest.update(to_bytes(module) + b'\0')
    digest.update(to_bytes(json.dumps(module_args, sort_keys=True, separators=(',', ':'))) + b'\0')
    digest.update(to_bytes(shebang or '') + b'\0')
    for name, member_digest in members:
        digest.update(to_bytes(name) + b'\0' + to_bytes(member_digest) + b'\0')
    return digest.hexdigest()


def _octal_mode(mode):
    """A mode given as octal digits (``'0700'``, ``'700'``, ``0o700``) as four digits; ``None`` for a symbolic one."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        return '%04o' % mode
    text = str(mode)
    if text.isdigit() and all(char in '01234567' for char in text) and len(text) <= 4:
        return text.rjust(4, '0')
    return None


class ActionModule(ActionBase):

    TRANSFERS_FILES = True
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        try:
            dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
            return self._run(args, result, task_vars)
        except AnsibleError as exc:
            result.update(failed=True, msg=to_text(exc.message if hasattr(exc, 'message') else exc))
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _run(self, args, result, task_vars):
        module, dest = args['module'], args['dest']
        if '.' not in module:
            raise AnsibleError('module_bundle: module %r is not a fully qualified name: give it as '
                               'namespace.collection.name, e.g. hna.cloudos.mysql_backup' % module)
        module_args = dict(args['module_args'])
        if any(key.startswith('_ansible_') for key in module_args):
            raise AnsibleError('module_bundle: module_args may not set internal _ansible_* arguments')
        embedded = dict(module_args, **FIXED_INTERNAL_ARGS)
        embedded['_ansible_module_name'] = module

        built, dummy = self._configure_module(module, embedded, task_vars)
        if built.module_style != 'new' or b'_ansiballz_main(' not in built.b_module_data:
            raise AnsibleError('module_bundle: %s is not a Python module Ansible can bundle (style %s); '
                               'only new-style Python modules run alone' % (module, built.module_style))
        new = fingerprint(module, module_args, built.shebang, payload_members(built.b_module_data))
        result.update(dest=dest, module=module, fingerprint=new, size=len(built.b_module_data))

        # One module run reads both files: the stored fingerprint is compared by its SHA-1, the bundle's mode directly.
        bundle, marker = self._read_remote_paths(dest, task_vars)
        present = bundle.get('type') == 'file'
        same = present and marker.get('checksum') == hashlib.sha1(to_bytes(new + '\n')).hexdigest()
        if same and _octal_mode(args['mode']) == bundle.get('mode'):
            result['changed'] = False
            return result
        if same:
            # Same bundle: only the file's mode needs a change.
            file_result = self._execute_module('ansible.legacy.file', module_args=dict(path=dest, mode=args['mode'], state='file'),
                                               task_vars=task_vars)
            if file_result.get('failed'):
                raise AnsibleError('module_bundle: cannot set the mode of %s: %s' % (dest, file_result.get('msg')))
            result['changed'] = bool(file_result.get('changed'))
            if result['changed'] and self._task.diff:
                result['diff'] = dict(before_header=dest, after_header=dest, before='mode %s\n' % bundle.get('mode'),
                                      after='mode %s\n' % args['mode'])
            return result

        if self._task.diff:
            old = self._read_remote_fingerprint(dest + '.fingerprint', task_vars) if marker.get('exists') else None
            result['diff'] = dict(before_header=dest + '.fingerprint', after_header=dest + '.fingerprint',
                                  before=(old or '') + '\n' if present and old else '',
                                  after=new + '\n')
        result['changed'] = True
        if self._task.check_mode:
            return result
        self._copy(dest, built.b_module_data, args['mode'], task_vars)
        self._copy(dest + '.fingerprint', to_bytes(new + '\n'), '0600', task_vars)
        return result

    def _read_remote_fingerprint(self, path, task_vars):
        slurped = self._execute_module('ansible.legacy.slurp', module_args=dict(src=path), task_vars=task_vars)
        if slurped.get('failed') or 'content' not in slurped:
            return None
        return to_text(base64.b64decode(slurped['content'])).strip()

    def _read_remote_paths(self, dest, task_vars):
        """The path_info entries of the bundle and of its fingerprint file."""
        marker_path = dest + '.fingerprint'
        info = self._execute_module('hna.cloudos.path_info', module_args=dict(paths=[dest, marker_path]), task_vars=task_vars)
        if info.get('failed'):
            raise AnsibleError('module_bundle: cannot read %s on the host: %s' % (dest, info.get('msg')))
        paths = info.get('paths') or {}
        return paths.get(dest) or {}, paths.get(marker_path) or {}

    def _copy(self, dest, data, mode, task_vars):
        """Install `data` at `dest` with the copy action (atomic rename on the host)."""
        local_dir = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            source = os.path.join(local_dir, os.path.basename(dest))
            with open(source, 'wb') as handle:
                handle.write(data)
            new_task = self._task.copy()
            new_task.args.clear()
            new_task.args.update(dict(src=source, dest=dest, mode=mode, force=True))
            new_task.diff = False
            copy_action = self._shared_loader_obj.action_loader.get(
                'ansible.legacy.copy', task=new_task, connection=self._connection, play_context=self._play_context,
                loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
            copied = copy_action.run(task_vars=task_vars)
        finally:
            shutil.rmtree(local_dir, ignore_errors=True)
        if copied.get('failed'):
            raise AnsibleError('module_bundle: cannot write %s on the host: %s' % (dest, copied.get('msg')))
        return copied
