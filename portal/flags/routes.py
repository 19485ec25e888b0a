"""The feature-flag page: global state, plan overrides and customer overrides.

Support staff read it; admins create, edit, toggle and delete flags and set
overrides. Every write is audited in the same transaction as the change.
Changing the global state or the plan overrides takes two POSTs: the first
shows, per plan, how many customers the change flips (saving nothing), the
second (confirm=yes) saves.
"""
from flask import abort, flash, redirect, render_template, url_for
from playhouse.flask_utils import get_object_or_404

from models import FeatureFlag, PlanType

from portal.core.web import current_actor
from portal.customers.lookup import find_customer
from portal.flags import service as flags_service
from portal.flags import bp
from portal.flags.forms import (
    ActionForm,
    CustomerOverrideForm,
    FlagEditForm,
    FlagForm,
    PlanOverridesForm,
    ToggleForm,
)

STATE = {"on": True, "off": False, "": None, "clear": None}


def _plan_form(entry):
    form = PlanOverridesForm(formdata=None)
    for plan in PlanType:
        value = entry["plans"].get(plan.value)
        getattr(form, "plan_" + plan.value).data = "" if value is None else (
            "on" if value else "off")
    return form


def _render_index(status=200, create_form=None):
    overview = flags_service.flag_overview()
    return render_template(
        "flags/index.html", overview=overview, plans=PlanType.values(),
        create_form=create_form or FlagForm(formdata=None),
        plan_forms={e["flag"].id: _plan_form(e) for e in overview},
        customer_form=CustomerOverrideForm(formdata=None),
        action_form=ActionForm(formdata=None)), status


@bp.get("/")
def index():
    return _render_index()


@bp.post("/")
def create():
    form = FlagForm()
    if not form.validate_on_submit():
        return _render_index(400, form)
    if FeatureFlag.get_or_none(FeatureFlag.key == form.key.data):
        form.key.errors.append("A flag with this key exists already.")
        return _render_index(400, form)
    flag = flags_service.create_flag(form.key.data, (form.description.data or "").strip(),
                                     form.enabled.data, current_actor())
    flash("Flag %s created (%s globally)." % (flag.key, "on" if flag.enabled else "off"),
          "success")
    return redirect(url_for("flags.index"))


def _render_preview(flag, action, hidden, impacts, title, description=None):
    """The confirm page: per plan, whose effective value flips. Saves nothing."""
    return render_template(
        "flags/preview.html", flag=flag, action=action, hidden=hidden, impacts=impacts,
        title=title, description=description,
        on_to_off=sum(i.on_to_off for i in impacts),
        off_to_on=sum(i.off_to_on for i in impacts))


def _on_off(value):
    return "on" if value else "off"


@bp.route("/<int:flag_id>/edit", methods=["GET", "POST"])
def edit(flag_id):
    """Two steps, like a plan change: the first POST previews, confirm=yes saves."""
    flag = get_object_or_404(FeatureFlag, FeatureFlag.id == flag_id)
    form = FlagEditForm(obj=flag)
    if form.validate_on_submit():
        description, enabled = (form.description.data or "").strip(), bool(form.enabled.data)
        if (description, enabled) == (flag.description, bool(flag.enabled)):
            flash("Nothing changed in %s." % flag.key, "warning")
            return redirect(url_for("flags.index"))
        if form.confirm.data != "yes":
            hidden = [("description", description)] + ([("enabled", "y")] if enabled else [])
            return _render_preview(
                flag, url_for("flags.edit", flag_id=flag.id), hidden,
                flags_service.preview_change(flag, enabled=enabled),
                "Save %s: globally %s → %s" % (flag.key, _on_off(flag.enabled),
                                              _on_off(enabled)),
                description=(flag.description, description))
        flags_service.update_flag(flag, description, enabled, current_actor())
        flash("Flag %s saved." % flag.key, "success")
        return redirect(url_for("flags.index"))
    return render_template("flags/edit.html", flag=flag, form=form), \
        400 if form.errors else 200


@bp.post("/<int:flag_id>/toggle")
def toggle(flag_id):
    flag = get_object_or_404(FeatureFlag, FeatureFlag.id == flag_id)
    form = ToggleForm()
    if not form.validate_on_submit():
        abort(400)
    wanted = {"on": True, "off": False}.get(form.state.data, not flag.enabled)
    if wanted == bool(flag.enabled):
        flash("Flag %s is already %s globally." % (flag.key, _on_off(wanted)), "warning")
        return redirect(url_for("flags.index"))
    if form.confirm.data != "yes":
        return _render_preview(
            flag, url_for("flags.toggle", flag_id=flag.id), [("state", _on_off(wanted))],
            flags_service.preview_change(flag, enabled=wanted),
            "Turn %s %s globally" % (flag.key, _on_off(wanted)))
    flags_service.update_flag(flag, flag.description, wanted, current_actor(),
                              action="flag.toggle")
    flash("Flag %s is now %s globally." % (flag.key, _on_off(flag.enabled)), "success")
    return redirect(url_for("flags.index"))


@bp.post("/<int:flag_id>/plans")
def set_plan_overrides(flag_id):
    flag = get_object_or_404(FeatureFlag, FeatureFlag.id == flag_id)
    form = PlanOverridesForm()
    if not form.validate_on_submit():
        flash("Choose inherit, on or off for each plan.", "error")
        return redirect(url_for("flags.index"))
    wanted = {plan.value: STATE[getattr(form, "plan_" + plan.value).data or ""]
              for plan in PlanType}
    current = flags_service.plan_overrides(flag)
    if all(current.get(p) == v for p, v in wanted.items()):
        flash("Plan overrides of %s unchanged." % flag.key, "warning")
        return redirect(url_for("flags.index"))
    if form.confirm.data != "yes":
        hidden = [("plan_" + p, "" if v is None else _on_off(v)) for p, v in wanted.items()]
        return _render_preview(
            flag, url_for("flags.set_plan_overrides", flag_id=flag.id), hidden,
            flags_service.preview_change(flag, plans=wanted),
            "Save the plan overrides of %s" % flag.key)
    changes = flags_service.save_plan_overrides(flag, wanted, current_actor())
    flash("Plan overrides of %s saved (%d changed)." % (flag.key, len(changes)), "success")
    return redirect(url_for("flags.index"))


@bp.post("/<int:flag_id>/customers")
def set_customer_override(flag_id):
    flag = get_object_or_404(FeatureFlag, FeatureFlag.id == flag_id)
    form = CustomerOverrideForm()
    if not form.validate_on_submit():
        flash("Enter a customer email and a state.", "error")
        return redirect(url_for("flags.index"))
    email = form.email.data.strip()
    user = find_customer(email)
    if user is None:
        flash("No customer with email %s." % email, "error")
        return redirect(url_for("flags.index"))
    wanted = STATE[form.state.data]
    flags_service.save_customer_override(flag, user, wanted, current_actor())
    flash("%s for %s: %s." % (flag.key, user.email, {True: "on", False: "off",
                                                    None: "override removed"}[wanted]),
          "success")
    return redirect(url_for("flags.index"))


@bp.post("/<int:flag_id>/delete")
def delete(flag_id):
    flag = get_object_or_404(FeatureFlag, FeatureFlag.id == flag_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    flags_service.delete_flag(flag, current_actor())
    flash("Flag %s deleted, with its overrides." % flag.key, "success")
    return redirect(url_for("flags.index"))
