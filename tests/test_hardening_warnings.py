"""Issue 11: the product's own deprecation warnings fail the tests.

WTForms binds fields lazily, so its warnings are attributed to wtforms'
own modules even when the product's form caused them: pytest.ini turns
DeprecationWarnings from portal.*, models.* and wtforms.* (only the product
calls WTForms directly) into errors; other third-party ones stay warnings.
"""
import importlib
import pkgutil
import warnings

import pytest
from wtforms import SelectField

import portal
from portal.core.forms import BaseForm


def warn_from(module_name):
    code = compile("import warnings\nwarnings.warn('old API', DeprecationWarning)",
                   module_name.replace(".", "/") + ".py", "exec")
    exec(code, {"__name__": module_name})


@pytest.mark.parametrize("module", ["portal.customers.forms", "models.plans"])
def test_a_deprecation_warning_in_the_product_fails_the_test(module):
    with pytest.raises(DeprecationWarning):
        warn_from(module)


def test_a_third_party_deprecation_warning_does_not(recwarn):
    warn_from("somelibrary.module")
    assert [w.category for w in recwarn] == [DeprecationWarning]


def test_deprecated_select_choices_fail_the_test(app):
    class Legacy(BaseForm):
        pick = SelectField("Pick", choices=[("a", "A"), ("b", "B")])
    with app.test_request_context(), pytest.raises(DeprecationWarning):
        Legacy(meta={"csrf": False})


def all_form_classes():
    for info in pkgutil.walk_packages(portal.__path__, "portal."):
        if info.name.rsplit(".", 1)[-1] in ("forms", "routes"):
            importlib.import_module(info.name)
    seen, todo = [], list(BaseForm.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen and not cls.__module__.startswith("tests"):
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


def test_every_product_form_renders_without_a_deprecation_warning(app, client):
    from models import OutreachCampaign, ResponseTemplate  # noqa: F401
    from portal.outreach.forms import campaign_form_class
    from portal.outreach.params import PARAM_SPECS
    classes = all_form_classes() + [campaign_form_class(t) for t in PARAM_SPECS]
    assert len(classes) > 10
    with app.test_request_context(), warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for cls in classes:
            form = cls(meta={"csrf": False})
            for field in form:
                if isinstance(field, SelectField) and field.choices is None:
                    field.choices = []
                field()  # render: iter_choices() for select fields


def test_the_pages_with_select_fields_render_without_warnings(admin_client):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for url in ("/connections/", "/usage/requests", "/outreach/log", "/flags/"):
            r = admin_client.get(url)
            assert r.status_code in (200, 302, 404), url
