"""The collection's and the project's metadata and docs agree with the code.

- ``meta/requirements.txt`` (what an execution environment installs) lists exactly the third-party
  packages the collection's plugins import, and ``meta/execution-environment.yml`` points at it both
  ways ansible-builder resolves the path (relative to the collection root, and to ``meta/``);
- ``pyproject.toml`` runtime dependencies list exactly what the project's code imports;
- the unit tests of the collection import no package missing from ``tests/unit/requirements.txt``,
  and never skip a whole file for a missing package (``pytest.importorskip`` at module level);
- every module is listed in the collection README and in the project README's module table, every
  action group is listed in the collection README with its modules, and every action group of
  ``meta/runtime.yml`` lists exactly the modules that extend its doc fragment;
- every role's ``min_ansible_version`` is the collection's ``requires_ansible``.

No Docker engine, no network: files only.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib

from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTION_DIR = REPO_ROOT / 'collections' / 'ansible_collections' / 'hna' / 'cloudos'
FQCN_PREFIX = 'hna.cloudos.'

#: Import name -> distribution name, where they differ.
DISTRIBUTIONS = {
    'yaml': 'pyyaml',
    'ansible': 'ansible-core',
    'ansible_test': 'ansible-core',
    'testinfra': 'pytest-testinfra',
}
#: Imports that are not third-party packages (besides the standard library): the project's own modules that the
#: benchmarks import from the lab tests' folder (conftest, loadclient) and from their own (benchrecord).
NOT_PACKAGES = {'__future__', 'ansible_collections'} | {path.stem for path in (REPO_ROOT / 'tests' / 'lab').glob('*.py')} \
    | {path.stem for path in (REPO_ROOT / 'bench').glob('*.py')}


def _requirement_names(lines):
    """Normalised distribution names of requirement specifiers (``name>=1.0``, comments and blanks ignored)."""
    names = set()
    for line in lines:
        line = line.split('#', 1)[0].strip()
        if line:
            names.add(re.split(r'[\s<>=!~;\[]', line, maxsplit=1)[0].lower().replace('_', '-'))
    return names


def _third_party_imports(paths):
    """Map each third-party distribution imported by the given Python files to the files importing it."""
    found = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split('.', 1)[0]
                if top in sys.stdlib_module_names or top in NOT_PACKAGES:
                    continue
                name = DISTRIBUTIONS.get(top, top).lower().replace('_', '-')
                found.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def _python_files(root):
    return sorted(path for path in root.rglob('*.py') if '__pycache__' not in path.parts and 'output' not in path.relative_to(root).parts[:1])


def _python_scripts(root):
    """Files without the .py suffix that are Python scripts (a python shebang)."""
    scripts = []
    for path in sorted(root.rglob('*')):
        if path.is_file() and path.suffix != '.py':
            with path.open('rb') as handle:
                first = handle.readline(200)
            if first.startswith(b'#!') and b'python' in first:
                scripts.append(path)
    return scripts


def _compare(declared, imported, declared_in, ignore_unused=()):
    missing = {name: sorted(files) for name, files in imported.items() if name not in declared}
    unused = sorted(declared - set(imported) - set(ignore_unused))
    problems = []
    if missing:
        problems.append('imported but not listed in %s: %s' % (declared_in, missing))
    if unused:
        problems.append('listed in %s but imported by no code: %s' % (declared_in, unused))
    return problems


def _modules():
    return sorted(path.stem for path in (COLLECTION_DIR / 'plugins' / 'modules').glob('*.py') if path.stem != '__init__')


def _runtime():
    return yaml.safe_load((COLLECTION_DIR / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))


def _module_documentation(name):
    path = COLLECTION_DIR / 'plugins' / 'modules' / ('%s.py' % name)
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, 'id', None) == 'DOCUMENTATION' for target in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError('%s has no DOCUMENTATION' % path)


def _fragment_memberships():
    """Map each doc fragment name (``hna.cloudos.docker.actiongroup_docker``) to the action groups it declares."""
    memberships = {}
    for path in sorted((COLLECTION_DIR / 'plugins' / 'doc_fragments').glob('*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == 'ModuleDocFragment':
                for item in node.body:
                    if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant):
                        variable = item.targets[0].id
                        name = FQCN_PREFIX + path.stem + ('' if variable == 'DOCUMENTATION' else '.' + variable.lower())
                        doc = yaml.safe_load(item.value.value) or {}
                        action_group = (doc.get('attributes') or {}).get('action_group') or {}
                        memberships[name] = set(action_group.get('membership') or [])
    return memberships


def _readme_table_modules(path, heading):
    """The ``hna.cloudos.*`` names in the first column of the table under ``heading`` in a Markdown file."""
    text = path.read_text(encoding='utf-8')
    match = re.search(r'^#+ %s\s*$(.*?)(?=^#+ |\Z)' % re.escape(heading), text, re.MULTILINE | re.DOTALL)
    assert match, '%s has no "%s" section' % (path, heading)
    names = []
    for line in match.group(1).splitlines():
        cell = re.match(r'^\|\s*`(%s[a-z0-9_]+)`\s*\|' % re.escape(FQCN_PREFIX), line)
        if cell:
            names.append(cell.group(1)[len(FQCN_PREFIX):])
    return names


# -- Python requirements ------------------------------------------------------------------------------

def test_meta_requirements_list_exactly_what_the_plugins_import():
    imported = _third_party_imports(_python_files(COLLECTION_DIR / 'plugins'))
    declared = _requirement_names((COLLECTION_DIR / 'meta' / 'requirements.txt').read_text(encoding='utf-8').splitlines())
    # ansible-core runs the plugins; it is never a requirement of a collection.
    imported.pop('ansible-core', None)
    assert not _compare(declared, imported, 'meta/requirements.txt')


def test_execution_environment_points_at_the_requirements_file():
    ee = yaml.safe_load((COLLECTION_DIR / 'meta' / 'execution-environment.yml').read_text(encoding='utf-8'))
    python = ee['dependencies']['python']
    # ansible-builder resolves it relative to the collection root when it introspects an installed collection
    # (introspect.py, CollectionDefinition.get_dependency), and relative to meta/ when it is given the file
    # (ansible-builder create -f meta/execution-environment.yml): both must reach meta/requirements.txt
    # (tests/collection/test_execution_environment.py runs both).
    assert not Path(python).is_absolute()
    assert (COLLECTION_DIR / python).resolve() == (COLLECTION_DIR / 'meta' / 'requirements.txt').resolve()
    assert (COLLECTION_DIR / 'meta' / python).resolve() == (COLLECTION_DIR / 'meta' / 'requirements.txt').resolve()


def test_pyproject_dependencies_list_exactly_what_the_project_code_imports():
    pyproject = tomllib.loads((REPO_ROOT / 'pyproject.toml').read_text(encoding='utf-8'))
    declared = _requirement_names(pyproject['project']['dependencies'])
    code = _python_files(COLLECTION_DIR / 'plugins')
    for folder in ('lab', 'bench', 'tools'):
        code += _python_files(REPO_ROOT / folder)
    for role in sorted((REPO_ROOT / 'roles').iterdir()):
        for folder in ('files', 'library', 'module_utils', 'filter_plugins'):
            if (role / folder).is_dir():
                code += _python_files(role / folder) + _python_scripts(role / folder)
    assert not _compare(declared, _third_party_imports(code), 'pyproject.toml [project] dependencies')


def test_unit_tests_import_only_listed_packages():
    unit = COLLECTION_DIR / 'tests' / 'unit'
    imported = _third_party_imports(_python_files(unit))
    declared = _requirement_names((unit / 'requirements.txt').read_text(encoding='utf-8').splitlines())
    # ansible-test units installs pytest (with its plugins) and ansible-core itself.
    for provided in ('pytest', 'ansible-core'):
        imported.pop(provided, None)
    assert not _compare(declared, imported, 'tests/unit/requirements.txt')


@pytest.mark.parametrize('root', ['collections/ansible_collections/hna/cloudos/tests', 'tests', 'molecule'])
def test_no_test_file_skips_itself_for_a_missing_package(root):
    offenders = []
    for path in _python_files(REPO_ROOT / root):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for node in tree.body:
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == 'importorskip'
                        and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))):
                    offenders.append('%s:%d' % (path.relative_to(REPO_ROOT), call.lineno))
    assert not offenders, 'module-level pytest.importorskip (a missing package must fail, not skip): %s' % offenders


# -- READMEs and action groups ------------------------------------------------------------------------

def test_collection_readme_lists_every_module():
    listed = _readme_table_modules(COLLECTION_DIR / 'README.md', 'Modules')
    assert sorted(listed) == _modules()
    assert len(listed) == len(set(listed))


def test_project_readme_module_table_lists_every_module():
    listed = _readme_table_modules(REPO_ROOT / 'README.md', 'Modules')
    assert sorted(listed) == _modules()
    assert len(listed) == len(set(listed))



def test_collection_readme_lists_every_filter_and_test():
    listed = _readme_table_modules(COLLECTION_DIR / 'README.md', 'Filters and tests')
    plugins = []
    # The names each plugin file registers: the keys of the dictionary its filters() or tests() method returns.
    for kind, method in (('filter', 'filters'), ('test', 'tests')):
        for path in sorted((COLLECTION_DIR / 'plugins' / kind).glob('*.py')):
            for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
                if isinstance(node, ast.FunctionDef) and node.name == method:
                    returned = [item.value for item in ast.walk(node) if isinstance(item, ast.Return)]
                    plugins += [key.value for value in returned if isinstance(value, ast.Dict) for key in value.keys]
    assert plugins, 'no filter or test plugin found'
    assert sorted(listed) == sorted(plugins)
    assert len(listed) == len(set(listed))


def test_collection_readme_lists_every_action_group_with_its_modules():
    text = (COLLECTION_DIR / 'README.md').read_text(encoding='utf-8')
    match = re.search(r'^#+ Action groups\s*$(.*?)(?=^#+ |\Z)', text, re.MULTILINE | re.DOTALL)
    assert match, 'the collection README has no "Action groups" section'
    listed = {}
    for line in match.group(1).splitlines():
        row = re.match(r'^\|\s*`%s([a-z0-9_]+)`\s*\|([^|]*)\|' % re.escape(FQCN_PREFIX), line)
        if row:
            listed[row.group(1)] = sorted(re.findall(r'`([a-z0-9_]+)`', row.group(2)))
    assert listed == {group: sorted(modules) for group, modules in _runtime()['action_groups'].items()}


def test_action_groups_list_exactly_the_modules_that_extend_their_fragments():
    memberships = _fragment_memberships()
    groups = _runtime()['action_groups']
    by_membership = {group: [] for group in groups}
    by_options_fragment = {group: [] for group in groups}
    for module in _modules():
        doc = _module_documentation(module)
        fragments = doc.get('extends_documentation_fragment') or []
        declared = set(((doc.get('attributes') or {}).get('action_group') or {}).get('membership') or [])
        for fragment in fragments:
            declared |= memberships.get(fragment, set())
        for group in groups:
            if FQCN_PREFIX + group in declared:
                by_membership[group].append(module)
            if FQCN_PREFIX + group in fragments:
                by_options_fragment[group].append(module)
        unknown = sorted(name for name in declared if name[len(FQCN_PREFIX):] not in groups)
        assert not unknown, '%s declares membership of action groups missing from meta/runtime.yml: %s' % (module, unknown)
    for group, modules in groups.items():
        assert sorted(modules) == by_membership[group], 'action group %s' % group
        assert sorted(modules) == by_options_fragment[group], 'action group %s vs doc fragment %s%s' % (group, FQCN_PREFIX, group)


# -- Roles --------------------------------------------------------------------------------------------

def test_roles_min_ansible_version_is_the_collection_requires_ansible():
    requires = _runtime()['requires_ansible']
    match = re.fullmatch(r'>=\s*(\d+)\.(\d+)(?:\.0)?', requires.strip())
    assert match, 'requires_ansible %r is not of the form >=X.Y[.0]' % requires
    expected = '%s.%s' % match.groups()
    roles = sorted(path for path in (REPO_ROOT / 'roles').iterdir() if (path / 'meta' / 'main.yml').is_file())
    assert roles
    found = {role.name: str(yaml.safe_load((role / 'meta' / 'main.yml').read_text(encoding='utf-8'))['galaxy_info']['min_ansible_version'])
             for role in roles}
    assert found == {role.name: expected for role in roles}
