"""The layout rules of portal/ (docs/architecture.md), read from the imports with `ast`.

* Only the web layer imports Flask: `routes.py`, `forms.py`, a package's
  `__init__.py` (blueprint registration), `portal/core/` and `portal/cli/`.
* A feature may import another feature's services, never its routes or forms.
* The transaction and the audit row are written in the service: a route never
  opens `database.atomic()` and never calls `audit.record`.
* `models/` imports nothing from `portal/`.
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORTAL = os.path.join(ROOT, "portal")
WEB_MODULES = {"routes.py", "forms.py", "__init__.py"}
WEB_PACKAGES = {"core", "cli"}
FLASK_PACKAGES = {"flask", "flask_login", "flask_wtf", "werkzeug", "wtforms"}
# werkzeug's password hashing is a plain library function, not the web layer.
NOT_WEB = {"werkzeug.security"}
TOP_LEVEL_ALLOWED = 12  # entries in portal/ besides the feature packages


def python_files(top):
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def imported_modules(path):
    """Every absolute module name `path` imports (relative ones resolved)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    package = rel.rsplit(".", 1)[0] if not rel.endswith("__init__") else rel[: -len(".__init__")]
    if rel.endswith("__init__"):
        package = rel[: -len(".__init__")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, node
            for alias in node.names:
                yield module + "." + alias.name, node


def feature_of(path):
    parts = os.path.relpath(path, PORTAL).split(os.sep)
    return parts[0] if len(parts) > 1 else None


def is_web_module(path):
    return (os.path.basename(path) in WEB_MODULES
            or feature_of(path) in WEB_PACKAGES)


def portal_files():
    return list(python_files(PORTAL))


def test_only_the_web_layer_imports_flask():
    offenders = set()
    for path in portal_files():
        if is_web_module(path):
            continue
        for module, node in imported_modules(path):
            if module.split(".")[0] in FLASK_PACKAGES and not any(
                    module == m or module.startswith(m + ".") for m in NOT_WEB):
                offenders.add("%s:%d imports %s" % (os.path.relpath(path, ROOT), node.lineno,
                                                    module))
    assert not offenders, "\n".join(sorted(offenders))


def test_features_do_not_import_each_others_routes():
    offenders = set()
    for path in portal_files():
        mine = feature_of(path)
        for module, node in imported_modules(path):
            parts = module.split(".")
            if parts[0] != "portal" or len(parts) < 3:
                continue
            if parts[-1] not in ("routes", "forms"):
                continue
            theirs = parts[1]
            if theirs != mine and theirs != "core" and mine != "cli" and path != os.path.join(PORTAL, "__init__.py"):
                offenders.add("%s:%d imports %s" % (os.path.relpath(path, ROOT), node.lineno,
                                                    module))
    assert not offenders, "\n".join(sorted(offenders))


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            yield name, node.func.attr, node


def test_routes_leave_transactions_and_audit_rows_to_services():
    offenders = []
    for path in portal_files():
        if os.path.basename(path) != "routes.py":
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for owner, attr, node in _calls(tree):
            if (owner, attr) in {("database", "atomic"), ("audit", "record"),
                                 ("database", "transaction")}:
                offenders.append("%s:%d %s.%s" % (os.path.relpath(path, ROOT), node.lineno,
                                                  owner, attr))
    assert not offenders, "\n".join(offenders)


def test_models_import_nothing_from_portal():
    offenders = []
    for path in python_files(os.path.join(ROOT, "models")):
        for module, node in imported_modules(path):
            if module.split(".")[0] == "portal":
                offenders.append("%s:%d imports %s" % (os.path.relpath(path, ROOT),
                                                       node.lineno, module))
    assert not offenders, "\n".join(offenders)


def test_portal_top_level_is_feature_packages():
    loose = [name for name in os.listdir(PORTAL)
             if name not in ("__init__.py", "__pycache__")
             and not os.path.isfile(os.path.join(PORTAL, name, "__init__.py"))]
    assert not loose, "modules belong in a feature package: %s" % loose
    assert len(os.listdir(PORTAL)) <= 40


@pytest.mark.parametrize("rule", ["flask", "routes", "audit", "models"])
def test_the_rules_catch_a_breach(tmp_path, rule):
    """Each check above fails on a file that breaks its rule (so none can pass vacuously)."""
    sources = {
        "flask": "from flask import request\n",
        "routes": "from portal.customers.routes import detail\n",
        "audit": "def view():\n    with database.atomic():\n        audit.record(1, 'x')\n",
        "models": "from portal.core import audit\n",
    }
    path = tmp_path / "service.py"
    path.write_text(sources[rule])
    found = list(imported_modules(str(path)))
    if rule == "flask":
        assert any(m.split(".")[0] in FLASK_PACKAGES for m, _ in found)
    elif rule == "routes":
        assert any(m.split(".")[-1] == "routes" for m, _ in found)
    elif rule == "audit":
        calls = {(o, a) for o, a, _ in _calls(ast.parse(path.read_text()))}
        assert ("database", "atomic") in calls and ("audit", "record") in calls
    else:
        assert any(m.startswith("portal") for m, _ in found)
