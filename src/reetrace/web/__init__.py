"""The inspector's workbench: server-rendered pages (Jinja2, Babel zh-CN/en) mounted by the service.

pages.py       the views: search, lot, trace, findings, dashboards, an enterprise's own pages
svg.py         a trace as inline SVG whose nodes link to their lots' pages
i18n.py        language negotiation, catalogs, locale formatting
session.py     the session cookie and CSRF tokens
vocabulary.py  data words marked for translation
templates/ static/ locale/
"""
