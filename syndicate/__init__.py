"""syndicate: job postings in Markdown, served as feeds, pages and webhooks.

The application factory lives in ``syndicate.web.app``; this package init stays
empty so that the parse workers import only what parsing needs.
"""
