"""The operator's web console at /console: server-rendered pages over the services the read API
uses. `mount` is all that the web app imports at start; the rest (Jinja, the pages) loads on the
console's first request."""
