"""What the API layer uses of Flask-Limiter and flask-smorest beyond their public API.
pyproject.toml holds each library to one minor version; an upgrade that moves one of
these fails here, by name, rather than somewhere in the app. (SQLAlchemy's are in
tests/service/test_hot.py.)"""
from __future__ import annotations

import inspect

from flask_limiter import Limiter
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationMixin


def test_flask_limiters_request_hook_is_the_method_ratelimit_removes():
    # api/ratelimit.py takes `limiter._check_request_limit` out of the app's
    # before_request hooks (every limit is a route's own).
    assert callable(getattr(Limiter, "_check_request_limit", None))
    assert list(inspect.signature(Limiter._check_request_limit).parameters)[:1] == ["self"]


def test_the_app_has_no_flask_limiter_hook_before_every_request(app):
    limiter = app.state.limiter
    assert limiter._check_request_limit not in app.before_request_funcs[None]


def test_smorest_keeps_a_views_documentation_in_apidoc():
    # api/smorest.py reads and extends the `_apidoc` the decorators leave on a view.
    blp = Blueprint("probe", __name__)

    @blp.response(200)
    def view():
        return {}

    assert "response" in view._apidoc


def test_smorest_documents_pagination_through_the_method_api_smorest_overrides():
    # api/smorest.py's Blueprint overrides it to document X-Pagination as a JSON text.
    method = getattr(PaginationMixin, "_document_pagination_metadata", None)
    assert callable(method)
    assert list(inspect.signature(method).parameters) == ["self", "spec", "resp_doc"]
