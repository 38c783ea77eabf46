"""The depot and back-office web app: an ASGI app (Starlette, Jinja2) over the store."""
