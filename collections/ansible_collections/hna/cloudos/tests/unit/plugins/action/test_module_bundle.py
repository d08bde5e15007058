# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the module_bundle action plugin's fingerprint: it changes with the module, its arguments, the
interpreter and the bundled files, never with the time the bundle was built. (That a bundle runs alone on a host
is tested on the lab: tests/lab/test_backup.py.)"""

from __future__ import annotations

import base64
import io
import zipfile

import pytest

from ansible_collections.hna.cloudos.plugins.action import module_bundle


def wrapper_with(members, stamp=(2026, 1, 1, 0, 0, 0)):
    """A text shaped like an AnsiballZ wrapper around a zip of `members` built at `stamp`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
    encoded = base64.b64encode(buf.getvalue()).decode()
    return ('#!/usr/bin/python3\n_ansiballz_main(\nansible_module=%r,\nzip_data=%r,\n)\n' % ('x', encoded)).encode()


def test_members_ignore_the_build_time():
    first = module_bundle.payload_members(wrapper_with({'a.py': 'one', 'b/c.py': 'two'}, (2026, 1, 1, 0, 0, 0)))
    later = module_bundle.payload_members(wrapper_with({'b/c.py': 'two', 'a.py': 'one'}, (2027, 5, 6, 7, 8, 10)))
    assert first == later
    assert [name for name, dummy in first] == ['a.py', 'b/c.py']


def test_a_changed_member_changes_the_members():
    assert (module_bundle.payload_members(wrapper_with({'a.py': 'one'}))
            != module_bundle.payload_members(wrapper_with({'a.py': 'one!'})))


def test_a_wrapper_without_payload_is_refused():
    with pytest.raises(ValueError, match='zip_data'):
        module_bundle.payload_members(b'#!/usr/bin/python3\nprint(1)\n')


@pytest.mark.parametrize('change', [
    dict(module='hna.cloudos.other'),
    dict(module_args={'keep_last': 8}),
    dict(module_args={'keep_last': 7, 'verify': True}),
    dict(shebang='#!/usr/local/bin/python3'),
    dict(members=[('a.py', 'f' * 64)]),
])
def test_the_fingerprint_follows_every_input(change):
    base = dict(module='hna.cloudos.mysql_backup', module_args={'keep_last': 7}, shebang='#!/usr/bin/python3',
                members=[('a.py', 'e' * 64)])
    changed = dict(base, **change)
    assert module_bundle.fingerprint(**base) != module_bundle.fingerprint(**changed)


def test_argument_order_does_not_matter():
    one = module_bundle.fingerprint('m.n.o', {'a': 1, 'b': {'x': 1, 'y': 2}}, '#!/usr/bin/python3', [])
    two = module_bundle.fingerprint('m.n.o', {'b': {'y': 2, 'x': 1}, 'a': 1}, '#!/usr/bin/python3', [])
    assert one == two


@pytest.mark.parametrize('mode, octal', [('0700', '0700'), ('700', '0700'), (0o700, '0700'), ('0644', '0644'),
                                         ('u=rwx', None), ('0800', None), (True, None)])
def test_modes_in_octal_digits_are_compared_as_four_digits(mode, octal):
    assert module_bundle._octal_mode(mode) == octal
