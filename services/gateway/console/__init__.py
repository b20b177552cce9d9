"""The operators' console at /admin/: server-rendered pages over the admin RPCs (see docs/console.md).

`routes.console_routes` gives the Starlette routes the gateway mounts beside its API router; the pages are
Jinja2 templates and the stylesheet a static file, both package data of this package.
"""
