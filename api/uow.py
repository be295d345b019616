"""The request owns the unit of work: every view runs in one transaction that
commits when the view returns and rolls back when it raises. Views and services
never commit themselves."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask

from api.context import state
from points.errors import DomainError


def transactional(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = state().db.session
        try:
            result = view(*args, **kwargs)
            if session.in_transaction():  # a cached read never opened one
                session.commit()
            return result
        except DomainError as error:
            if error.commit:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise

    return wrapper


def wrap_all_views(app: Flask) -> None:
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = transactional(view)
