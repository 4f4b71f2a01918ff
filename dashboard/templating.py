"""Django's template engine, letting go of each rendering's context as soon as the page is written.

Django pushes the view's context dict onto the template Context as a ContextDict, which keeps a
reference back to that Context (django.template.context.ContextDict.context): a reference cycle. The
view's whole context, however large, then outlives the request until the garbage collector finds the
cycle. On the class page that is 3,000 files' boxes and 300 lanes, swept during a later request and
promoted meanwhile into the generations the collector sweeps least often. Emptying the Context once
the page is rendered breaks the cycle, so reference counting frees it all on the spot. Nothing reads a
Context after its rendering; the test client's copy (response.context) keeps its own list of dicts.
"""

from __future__ import annotations

from django.template import TemplateDoesNotExist
from django.template.backends import django as django_backend
from django.template.context import make_context


class Template(django_backend.Template):
    def render(self, context=None, request=None):
        context = make_context(context, request, autoescape=self.backend.engine.autoescape)
        try:
            return self.template.render(context)
        except TemplateDoesNotExist as exc:
            django_backend.reraise(exc, self.backend)
        finally:
            context.dicts.clear()


class DjangoTemplates(django_backend.DjangoTemplates):
    """The stock backend (settings name it "django", as the stock one is named), handing out the
    Template above."""

    def from_string(self, template_code):
        return Template(self.engine.from_string(template_code), self)

    def get_template(self, template_name):
        return Template(super().get_template(template_name).template, self)
