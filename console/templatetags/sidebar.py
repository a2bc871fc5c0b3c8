"""The sidebar, rendered once per shape.

unfold renders its sidebar (unfold/helpers/app_list.html: every navigation link, then "All
applications") on every admin page, and that render was a tenth of a customer screen's time. Its
HTML depends only on which links the user may see, which one is lit, the applications the user may
open (`app_list`, which unfold's navigation.html passes in), the language and the script prefix: the
links, titles and icons are the settings' (console/unfold_config.py). So
templates/unfold/helpers/app_list.html calls {% sidebar %}, which renders unfold's own template the
first time a shape is seen and hands out the same HTML for that shape afterwards (per process, the
SHAPES most recent). A navigation with anything computed per request (a badge, a link callback) is
rendered every time.
"""

import threading
from collections import OrderedDict
from pathlib import Path

import unfold
from django import template
from django.urls import get_script_prefix
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

register = template.Library()
UNFOLD_SIDEBAR = Path(unfold.__file__).parent / "templates" / "unfold" / "helpers" / "app_list.html"
SHAPES = 256  # users' permission sets × active links × languages: a few dozen in practice

_rendered = OrderedDict()
_lock = threading.Lock()
_template = None


def _unfold_template(engine):
    global _template
    if _template is None:
        _template = engine.from_string(UNFOLD_SIDEBAR.read_text(encoding="utf-8"))
    return _template


def _items_shape(items):
    shape = []
    for item in items:
        if "badge_callback" in item or "link_callback" in item:
            return None  # computed per request: no shape stands for it
        nested = item.get("items")
        nested_shape = _items_shape(nested) if isinstance(nested, list) else ()
        if nested_shape is None:
            return None
        shape.append((bool(item.get("has_permission")), bool(item.get("active")), nested_shape))
    return tuple(shape)


def shape_of(context):
    """What the sidebar's HTML depends on in this context, or None when it cannot be told (render it)."""
    groups = []
    for group in context.get("sidebar_navigation") or ():
        if "badge_callback" in group:
            return None
        items = _items_shape(group.get("items") or ())
        if items is None:
            return None
        groups.append(items)
    apps = tuple((app.get("app_label"), tuple(model.get("object_name") for model in app.get("models", ())))
                 for app in context.get("app_list") or ())
    shown_all = bool(context.get("sidebar_show_all_applications"))
    return get_language(), get_script_prefix(), shown_all, tuple(groups), apps


@register.simple_tag(takes_context=True)
def sidebar(context):
    """unfold's sidebar for this context, rendered once per shape_of(context)."""
    shape = shape_of(context)
    if shape is not None:
        with _lock:
            html = _rendered.get(shape)
            if html is not None:
                _rendered.move_to_end(shape)
                return html
    html = mark_safe(_unfold_template(context.template.engine).render(context))
    if shape is not None:
        with _lock:
            _rendered[shape] = html
            while len(_rendered) > SHAPES:
                _rendered.popitem(last=False)
    return html
