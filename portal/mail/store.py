"""Storing templates: save with version history, duplicate, delete, restore, diff.

No Flask here: every write takes the acting staff member as an `Actor` (portal.core.audit).
Both kinds of template share this code but never a table: outreach emails
(`response_templates`, by trigger) and support replies
(`admin_response_templates`, by category) are described by a TemplateKind.
Every change and its audit row are written in one transaction.
"""
import difflib
from dataclasses import dataclass

from peewee import fn

from models.triggers import TRIGGER_LABELS
from models import (AdminResponseTemplate, AdminResponseTemplateVersion,
                    OutreachCampaign, ResponseTemplate, ResponseTemplateVersion, database,
                    utcnow)

from portal.core import audit
from portal.mail.engine import (
    REPLY_CATEGORIES,
    REPLY_VARIABLES,
    TRIGGER_VARIABLES,
    TemplateError,
    render_email,
    sample_context,
    validate_email,
)

MAX_NAME = 200
PAGE_SIZE = 25


@dataclass(frozen=True)
class TemplateKind:
    slug: str            # URL part: outreach | replies
    label: str           # "Email template" | "Reply template"
    model: type
    version_model: type
    group_field: str     # trigger | category
    group_label: str     # Trigger | Category
    groups: tuple        # ((value, label), ...)
    audit_type: str

    def allowed(self, group):
        if self.slug == "outreach":
            return TRIGGER_VARIABLES[group]
        return REPLY_VARIABLES

    def group_of(self, template):
        return getattr(template, self.group_field)

    def group_label_of(self, value):
        return dict(self.groups).get(value, value)


OUTREACH = TemplateKind(
    "outreach", "Email template", ResponseTemplate, ResponseTemplateVersion, "trigger",
    "Trigger", tuple(TRIGGER_LABELS.items()),
    "response_template")
REPLIES = TemplateKind(
    "replies", "Reply template", AdminResponseTemplate, AdminResponseTemplateVersion,
    "category", "Category", REPLY_CATEGORIES, "admin_response_template")
KINDS = {k.slug: k for k in (OUTREACH, REPLIES)}


def _snapshot(kind, template):
    return {kind.group_field: kind.group_of(template), "name": template.name,
            "subject": template.subject, "body": template.body}


def check(kind, group, name, subject, body, template=None):
    """Raise TemplateError unless the fields may be saved.

    Beyond the grammar, the template must render: it is rendered with the
    sample data of its own trigger (category) and of every campaign that uses
    it (`template`, when it already exists), under the sender's own limits
    (engine.render_email: MAX_OUTPUT). A template that no customer could ever
    receive is refused here, not discovered by the sidecar at send time.
    """
    if group not in dict(kind.groups):
        raise TemplateError("unknown %s %r" % (kind.group_label.lower(), group))
    name = (name or "").strip()
    if not name:
        raise TemplateError("a name is required", field="Name")
    if len(name) > MAX_NAME:
        raise TemplateError("at most %d characters" % MAX_NAME, field="Name")
    if not (subject or "").strip():
        raise TemplateError("a subject is required", field="Subject")
    if not (body or "").strip():
        raise TemplateError("a body is required", field="Body")
    validate_email(subject, body, kind.allowed(group))
    check_sendable(kind, group, subject, body, template)


def _render_contexts(kind, group, template):
    """[(who, context, allowed)]: every context the template can be sent in."""
    if kind is not OUTREACH:
        return [("", sample_context(None), REPLY_VARIABLES)]
    contexts = [("", sample_context(group), TRIGGER_VARIABLES[group])]
    seen = {group}
    for c in (campaigns_using(template) if template is not None and template.id else []):
        if c.trigger in seen or c.trigger not in TRIGGER_VARIABLES:
            continue
        seen.add(c.trigger)
        contexts.append((" for campaign \u201c%s\u201d (trigger %s), which uses this template"
                         % (c.name, c.trigger), sample_context(c.trigger),
                         TRIGGER_VARIABLES[c.trigger]))
    return contexts


def check_sendable(kind, group, subject, body, template=None):
    """Raise TemplateError when the email cannot be rendered for sending (see check)."""
    for who, context, allowed in _render_contexts(kind, group, template):
        try:
            render_email(subject, body, context, allowed)
        except TemplateError as e:
            raise TemplateError("this email cannot be sent%s (rendered with the sample "
                                "customer data): %s" % (who, e)) from e


# --- reading ------------------------------------------------------------------------


def search(kind, q="", group="", after_id=None, page_size=PAGE_SIZE):
    """Templates matching `q` in name/subject/body, ordered by id (keyset on id)."""
    model = kind.model
    query = model.select()
    if group:
        query = query.where(getattr(model, kind.group_field) == group)
    q = (q or "").strip()
    if q:
        # contains() is ILIKE with the wildcards escaped, on both engines.
        query = query.where(model.name.contains(q) | model.subject.contains(q)
                            | model.body.contains(q))
    if after_id:
        query = query.where(model.id > after_id)
    rows = list(query.order_by(model.id).limit(page_size + 1))
    more = len(rows) > page_size
    return rows[:page_size], (rows[page_size - 1].id if more else None)


def get(kind, template_id):
    return kind.model.get_or_none(kind.model.id == template_id)


def versions(kind, template):
    vm = kind.version_model
    return list(vm.select().where(vm.template == template.id).order_by(vm.version.desc()))


def get_version(kind, template, number):
    vm = kind.version_model
    return vm.get_or_none((vm.template == template.id) & (vm.version == number))


def campaigns_using(template):
    return list(OutreachCampaign.select().where(OutreachCampaign.template == template.id))


def diff_lines(old, new, old_label="this version", new_label="current"):
    """[(css class, line)] of a unified diff from `old` to `new` (difflib)."""
    out = []
    for line in difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(),
                                     old_label, new_label, lineterm="", n=3):
        if line.startswith(("+++", "---")):
            cls = "meta"
        elif line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        else:
            cls = "ctx"
        out.append((cls, line))
    return out


# --- writing ------------------------------------------------------------------------


def _keep_version(kind, template, staff_email, now):
    vm = kind.version_model
    last = (vm.select(fn.MAX(vm.version)).where(vm.template == template.id).scalar()) or 0
    vm.create(template=template.id, version=last + 1, name=template.name,
              subject=template.subject, body=template.body, saved_at=now,
              saved_by=staff_email or "",
              **{kind.group_field: kind.group_of(template)})
    return last + 1


def save(kind, template, *, group, name, subject, body, actor, action=None, now=None):
    """Create (template None) or update a template; the previous content becomes a version.

    Raises TemplateError (nothing written) when the content is not valid.
    """
    check(kind, group, name, subject, body, template)
    now = now or utcnow()
    name = name.strip()
    email = actor.shown_email
    with database.atomic():
        if template is None:
            template = kind.model.create(name=name, subject=subject, body=body, updated_at=now,
                                         **{kind.group_field: group})
            audit.record(actor, action or kind.audit_type + ".create", kind.audit_type, template.id,
                         after=_snapshot(kind, template))
            return template
        before = _snapshot(kind, template)
        after = {kind.group_field: group, "name": name, "subject": subject, "body": body}
        if before == after:
            return template  # nothing changed: no empty version, no audit noise
        _keep_version(kind, template, email, now)
        setattr(template, kind.group_field, group)
        template.name, template.subject, template.body = name, subject, body
        template.updated_at = now
        template.save()
        audit.record(actor, action or kind.audit_type + ".update", kind.audit_type, template.id,
                     before=before, after=after)
    return template


def duplicate(kind, template, *, actor, now=None):
    name = ("Copy of " + template.name)[:MAX_NAME]
    return save(kind, None, group=kind.group_of(template), name=name,
                subject=template.subject, body=template.body, actor=actor,
                action=kind.audit_type + ".duplicate", now=now)


def restore(kind, template, number, *, actor, now=None):
    """Make version `number` the current content (the current one is kept as a version)."""
    version = get_version(kind, template, number)
    if version is None:
        raise TemplateError("version %s does not exist" % number)
    return save(kind, template, group=getattr(version, kind.group_field), name=version.name,
                subject=version.subject, body=version.body, actor=actor,
                action=kind.audit_type + ".restore", now=now)


def delete(kind, template, *, actor):
    with database.atomic():
        audit.record(actor, kind.audit_type + ".delete", kind.audit_type, template.id,
                     before=_snapshot(kind, template))
        vm = kind.version_model
        vm.delete().where(vm.template == template.id).execute()
        if kind is OUTREACH:
            (OutreachCampaign.update(template=None)
             .where(OutreachCampaign.template == template.id).execute())
        template.delete_instance()
