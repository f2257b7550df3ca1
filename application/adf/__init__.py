"""Markdown -> Atlassian Document Format (Cloud) and wiki markup (Data Center), schema
validation and Jira's document limits."""

from application.adf.convert import is_safe_href, markdown_to_adf
from application.adf.ticket_document import (
    JIRA_ATTACHMENT_LIMIT_BYTES,
    JIRA_DESCRIPTION_LIMIT,
    JIRA_SUMMARY_LIMIT,
    AdfCheck,
    Attachment,
    TicketDocument,
    adf_json,
    attachment_filename,
    attachment_problem,
    build_ticket_document,
    check_ticket,
    description_length,
    jira_length,
    ticket_markdown,
)
from application.adf.validate import adf_schema, validate_adf
from application.adf.wiki import adf_to_wiki, markdown_to_wiki, plain_to_wiki

__all__ = [
    "JIRA_ATTACHMENT_LIMIT_BYTES",
    "JIRA_DESCRIPTION_LIMIT",
    "JIRA_SUMMARY_LIMIT",
    "AdfCheck",
    "Attachment",
    "TicketDocument",
    "adf_json",
    "adf_schema",
    "adf_to_wiki",
    "attachment_filename",
    "attachment_problem",
    "build_ticket_document",
    "check_ticket",
    "description_length",
    "is_safe_href",
    "jira_length",
    "markdown_to_adf",
    "markdown_to_wiki",
    "plain_to_wiki",
    "ticket_markdown",
    "validate_adf",
]
