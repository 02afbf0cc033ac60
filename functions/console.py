"""The operator console function: the UI (`/`, `/static/…`), the admin JSON API (`/api/…`)
and `/health` in one app, so the page and its fetch() calls share one origin and one Basic
Auth prompt; and the public share pages (`/s/…`) and event galleries (`/g/…`), no auth,
whose links the console makes. template.yaml deploys this handler as ConsoleFunction."""

from __future__ import annotations

from functions import admin, gallery, health, share, ui
from functions.app import create_function_app
from functions.lambda_entry import make_handler
from shared.usecases.console import OperatorConsole
from shared.usecases.gallery_pages import GalleryPages
from shared.usecases.health import ServiceHealth
from shared.usecases.share_pages import SharePages

app = create_function_app(admin.router, ui.router, health.router, share.router, gallery.router)
handler = make_handler(app, "console",
                       serves=(OperatorConsole, ServiceHealth, SharePages, GalleryPages))
