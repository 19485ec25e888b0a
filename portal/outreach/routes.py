"""Outreach pages: campaigns, dry run, preview, edit/enable (admin), and the log.

Thin: the engine (portal.outreach.engine) and the log reader
(portal.outreach.reports) hold the logic. Every write is audited in the same
transaction as the change.
"""
import datetime
import json
from urllib.parse import urlencode

from flask import (abort, current_app, flash, redirect, render_template, request,
                   url_for)
from playhouse.flask_utils import get_object_or_404

from models import OutreachCampaign, ResponseTemplate, utcnow

from portal.core.links import customer_url
from portal.core.pagination import BadCursor, day_range
from portal.core.web import current_actor
from portal.outreach import campaigns as campaign_service
from portal.outreach import reports as outreach_reports, engine as outreach_service
from portal.outreach.params import PARAM_SPECS, campaign_params, campaign_plans, validate_params
from models.triggers import TRIGGER_LABELS
from portal.core.csv_export import csv_response
from portal.core.forms import select_choices
from portal.core.email_preview import email_html_response  # own strict CSP, sandboxed frame
from portal.outreach import bp
from portal.outreach.forms import PARAM_PREFIX, LogFilterForm, campaign_form_class

DRY_RUN_SHOW = 100
COUNT_DAYS = 30
LOG_ARGS = ("campaign", "status", "customer", "date_from", "date_to")


@bp.app_template_filter("outreach_time")
def _fmt(ts):
    return ts.strftime("%Y-%m-%d %H:%M") if ts else ""


@bp.context_processor
def _helpers():
    return {"trigger_label": lambda t: TRIGGER_LABELS.get(t, t),
            "customer_url": customer_url, "skip_label": outreach_service.skip_label}


# --- campaigns ------------------------------------------------------------------------

@bp.get("/")
def campaigns():
    rows = list(OutreachCampaign.select().order_by(OutreachCampaign.id))
    counts = outreach_reports.campaign_counts(utcnow() - datetime.timedelta(days=COUNT_DAYS))
    templates = {t.id: t.name for t in ResponseTemplate.select(ResponseTemplate.id,
                                                               ResponseTemplate.name)}
    return render_template("outreach/campaigns.html", campaigns=rows, counts=counts,
                           templates=templates, days=COUNT_DAYS)


@bp.get("/<int:campaign_id>")
def campaign(campaign_id):
    c = get_object_or_404(OutreachCampaign, OutreachCampaign.id == campaign_id)
    result = outreach_service.dry_run(current_app.config, c)
    since = utcnow() - datetime.timedelta(days=COUNT_DAYS)
    counts = outreach_reports.campaign_counts(since).get(c.id, {})
    failure = outreach_reports.latest_failure(c.id, since) if counts.get("failed") else None
    return render_template("outreach/campaign.html", campaign=c, dry=result, counts=counts,
                           failure=failure,
                           params=campaign_params(c), specs=PARAM_SPECS[c.trigger],
                           plans=campaign_plans(c), show=DRY_RUN_SHOW, days=COUNT_DAYS)


@bp.get("/<int:campaign_id>/preview/<int:user_id>")
def preview(campaign_id, user_id):
    c = get_object_or_404(OutreachCampaign, OutreachCampaign.id == campaign_id)
    candidate, rendered, problem = outreach_service.preview_for(current_app.config, c, user_id)
    if candidate is None:
        abort(404)
    return render_template("outreach/preview.html", campaign=c, candidate=candidate,
                           rendered=rendered, problem=problem)


@bp.get("/<int:campaign_id>/preview/<int:user_id>/html")
def preview_html(campaign_id, user_id):
    c = get_object_or_404(OutreachCampaign, OutreachCampaign.id == campaign_id)
    candidate, rendered, _ = outreach_service.preview_for(current_app.config, c, user_id)
    if rendered is None:
        abort(404)
    return email_html_response(rendered.html)


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
def edit(campaign_id):
    c = get_object_or_404(OutreachCampaign, OutreachCampaign.id == campaign_id)
    form_class = campaign_form_class(c.trigger)
    form = form_class(obj=None) if request.method == "POST" else form_class(
        data=dict(name=c.name, template=c.template_id or 0, cooldown_days=c.cooldown_days,
                  plans=campaign_plans(c) or [],
                  **{PARAM_PREFIX + k: v for k, v in campaign_params(c).items()}))
    templates = list(ResponseTemplate.select().where(ResponseTemplate.trigger == c.trigger)
                     .order_by(ResponseTemplate.name))
    form.template.choices = select_choices([(0, "— none (campaign cannot send) —")] + [
        (t.id, t.name) for t in templates])
    proposed = None
    if request.method == "POST" and form.validate():
        params, errors = validate_params(c.trigger, form.params())
        for name, message in errors.items():
            field = getattr(form, PARAM_PREFIX + name, None)
            if field is not None:
                field.errors = list(field.errors) + [message]
        if not errors:
            proposed = OutreachCampaign(
                id=None, name=form.name.data.strip(), trigger=c.trigger,
                template=form.template.data or None, enabled=c.enabled,
                cooldown_days=form.cooldown_days.data, plans=",".join(form.plans.data),
                params=json.dumps(params, sort_keys=True))
            if form.save.data:
                campaign_service.save_campaign(c, proposed, current_actor())
                flash("Campaign “%s” saved." % c.name, "success")
                return redirect(url_for("outreach.campaign", campaign_id=c.id))
    elif request.method == "POST":
        flash("Please correct the marked fields.", "error")
    preview_run = None
    if proposed is not None:
        # Same cooldowns and history as the saved campaign, new settings.
        proposed.id = c.id
        preview_run = outreach_service.dry_run(current_app.config, proposed)
        flash("Preview only: nothing is saved until you press Save.", "warning")
    current = outreach_service.dry_run(current_app.config, c) if proposed else None
    return render_template("outreach/edit.html", campaign=c, form=form, preview=preview_run,
                           current=current), (400 if request.method == "POST"
                                              and proposed is None else 200)


def _set_enabled(campaign_id, enabled):
    c = get_object_or_404(OutreachCampaign, OutreachCampaign.id == campaign_id)
    if enabled and c.template_id is None:
        flash("Choose an email template before enabling “%s”." % c.name, "error")
        return redirect(url_for("outreach.campaign", campaign_id=c.id))
    campaign_service.set_enabled(c, enabled, current_actor())
    flash("Campaign “%s” is %s." % (c.name, "on: the sidecar sends it from its next run"
                                     if enabled else "off"), "success")
    return redirect(url_for("outreach.campaign", campaign_id=c.id))


@bp.post("/<int:campaign_id>/enable")
def enable(campaign_id):
    return _set_enabled(campaign_id, True)


@bp.post("/<int:campaign_id>/disable")
def disable(campaign_id):
    return _set_enabled(campaign_id, False)


# --- the log ------------------------------------------------------------------------------

def _log_form():
    form = LogFilterForm(request.args)
    form.campaign.choices = select_choices([("", "Any")] + [
        (str(c.id), c.name) for c in OutreachCampaign.select().order_by(OutreachCampaign.name)])
    return form


def _log_filter(form):
    data = form.data
    start, end = day_range(data["date_from"], data["date_to"])
    return outreach_reports.LogFilter(
        campaign_id=int(data["campaign"]) if data["campaign"] else None,
        status=data["status"] or None, email=(data["customer"] or "").strip() or None,
        start=start, end=end)


def log_url(endpoint="outreach.log", **overrides):
    """The current log URL with the filters kept and `overrides` applied."""
    args = {k: request.args.get(k) for k in LOG_ARGS if request.args.get(k)}
    args.update({k: v for k, v in overrides.items() if v is not None})
    query = urlencode(args)
    return url_for(endpoint) + ("?" + query if query else "")


@bp.get("/log")
def log():
    form = _log_form()
    if request.args and not form.validate():
        return render_template("outreach/log.html", form=form, page=None, log_url=log_url), 400
    try:
        page = outreach_reports.fetch_page(_log_filter(form), before=request.args.get("before"))
    except BadCursor:
        flash("That page link is no longer valid; showing the newest rows.", "warning")
        page = outreach_reports.fetch_page(_log_filter(form))
    return render_template("outreach/log.html", form=form, page=page, log_url=log_url)


CSV_COLUMNS = ["id", "created_at", "email", "campaign_name", "trigger", "status", "reason",
               "subject", "message_id"]


@bp.get("/log.csv")
def log_csv():
    form = _log_form()
    if request.args and not form.validate():
        return render_template("outreach/log.html", form=form, page=None, log_url=log_url), 400
    log_filter = _log_filter(form)

    rows = ([row[c] for c in CSV_COLUMNS] for row in outreach_reports.iter_rows(log_filter))
    return csv_response(CSV_COLUMNS, rows, "outreach-log.csv")


@bp.get("/log/<int:entry_id>")
def log_entry(entry_id):
    entry = outreach_reports.log_entry(entry_id)
    if entry is None:
        abort(404)
    return render_template("outreach/log_entry.html", entry=entry)


@bp.get("/log/<int:entry_id>/html")
def log_entry_html(entry_id):
    entry = outreach_reports.log_entry(entry_id)
    if entry is None or not entry.html_body:
        abort(404)
    return email_html_response(entry.html_body)
