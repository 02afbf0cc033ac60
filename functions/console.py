"""The operator console function: the UI (`/`, `/static/…`), the admin JSON API (`/api/…`)
and `/health` in one app, so the page and its fetch() calls share one origin and one Basic
Auth prompt. template.yaml deploys this handler as ConsoleFunction."""

from __future__ import annotations

from functions import admin, health, ui
from functions.app import create_function_app
from functions.lambda_entry import make_handler
from shared.usecases.console import OperatorConsole
from shared.usecases.health import ServiceHealth

app = create_function_app(admin.router, ui.router, health.router)
handler = make_handler(app, "console", serves=(OperatorConsole, ServiceHealth))
