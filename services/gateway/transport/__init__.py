"""HTTP: the Starlette/ASGI application served by uvicorn."""
