"""A large, hub-heavy Drupal site inventory for the benchmarks, generated (seeded).

NestWatch (235 rows, 269 dependencies) has no hubs: no entity blocks more than a
dozen others. Real sites do: on a university site the "site administrator" role
is the blocker in ~60 dependency links, the profile content type in ~50. This
module writes such a site in the product's input format (the CSV files of
`samples/nestwatch/inventory`, see inventory-format.md): ~1,200 rows that the
product turns into ~2,000 `depends_on` edges, with a few entities each the blocker
of 40-60 others.

Every edge comes from a row's `depends_on`, written as Drupal writes a config
entity's `dependencies.config`:

- a field depends on its bundle and, for an entity reference, on the bundles it
  may reference (`target`: `media:image`, `paragraph:text,card,...`);
- a view depends on the bundles and vocabularies it filters on, the image styles
  of its formatters, the menu of its page's menu tab, the workflow of a
  moderation filter, and the roles of its access (`access: role`);
- a workflow depends on the bundles it applies to;
- a role depends on the bundles its permissions name (`create event content`).

The hubs are what a university site makes of that: `user.role.site_administrator`
and `user.role.editor` (the access of the admin views), `media.type.image` (every
image field), `node.type.person`, `node.type.program` and `node.type.event` (many
fields of their own and many references), `taxonomy.vocabulary.department`.

    .venv/bin/python -m bench.sites OUTDIR           # write the CSV files
    .venv/bin/python -m bench.sites --check [OUTDIR] # also: parse + offline generation,
                                                     # tickets, edges, degree distribution
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from application.inventory.csv_files import expected_columns
from application.inventory.model import BUNDLE_CONFIG_PREFIXES, UploadedFile
from domain.inventory import Kind

SEED = 13
SITE_NAME = "Northfield State University"

# --------------------------------------------------------------------------- bundles

# (machine name, label, description, number of plain fields)
NODE_TYPES: list[tuple[str, str, str, int]] = [
    ("page", "Basic page", "Static pages: about, policies, contact.", 6),
    ("landing_page", "Landing page", "Section front pages built from paragraphs.", 6),
    ("news", "News story", "News for the newsroom and the department pages.", 18),
    ("event", "Event", "Campus events, with dates, location and registration.", 25),
    ("person", "Person", "Faculty, staff and student profiles.", 5),
    ("program", "Academic program", "Majors, minors, certificates and degrees.", 18),
    ("course", "Course", "Catalog courses.", 20),
    ("department", "Department", "Academic departments and administrative offices.", 16),
    ("location", "Location", "Buildings, rooms and campus spots on the map.", 15),
    ("announcement", "Announcement", "Short notices for the portal.", 5),
    ("alert", "Emergency alert", "Campus-wide alerts shown in a banner.", 4),
    ("scholarship", "Scholarship", "Scholarships and their criteria.", 14),
    ("research_project", "Research project", "Funded and student research projects.", 12),
    ("publication", "Publication", "Articles, books and reports by our people.", 10),
    ("story", "Feature story", "Long-form magazine stories.", 13),
    ("spotlight", "Student spotlight", "Short profiles of students and alumni.", 7),
    ("testimonial", "Testimonial", "Quotes from students and employers.", 4),
    ("faq", "FAQ", "Questions and answers, by topic.", 3),
    ("lab", "Lab or facility", "Labs, studios and research facilities.", 13),
    ("grant", "Grant", "External grants awarded to faculty.", 9),
    ("job_posting", "Job posting", "Staff and student job openings.", 14),
    ("policy", "Policy", "University policies with their review dates.", 12),
    ("gallery", "Photo gallery", "Photo galleries.", 3),
    ("video", "Video", "Videos with transcripts.", 5),
    ("podcast_episode", "Podcast episode", "Episodes of the university podcast.", 6),
    ("award", "Award", "Awards and honors received.", 5),
    ("organization", "Student organization", "Registered student organizations.", 12),
    ("webform_page", "Form page", "A page that hosts a webform.", 3),
    ("service", "Service", "The service catalog: IT, HR, facilities.", 12),
    ("resource", "Resource", "Guides, toolkits and downloads.", 8),
    ("event_series", "Event series", "Recurring events grouped under one page.", 6),
    ("athletics_team", "Athletics team", "Varsity and club teams.", 10),
    ("exhibit", "Exhibit", "Gallery and museum exhibits.", 9),
    ("study_abroad", "Study abroad program", "Programs abroad, with terms and costs.", 14),
    ("library_guide", "Library guide", "Research guides by subject.", 7),
    ("clinic", "Clinic", "Community clinics run by the university.", 10),
    ("campaign", "Campaign", "Giving and marketing campaigns.", 7),
    ("newsletter_issue", "Newsletter issue", "Issues of the campus newsletters.", 5),
]

# (machine name, label, number of plain fields)
PARAGRAPH_TYPES: list[tuple[str, str, int]] = [
    ("text", "Text", 2),
    ("image", "Image", 2),
    ("image_text", "Image and text", 3),
    ("hero", "Hero", 3),
    ("hero_video", "Hero video", 3),
    ("card", "Card", 3),
    ("card_group", "Card group", 2),
    ("cta", "Call to action", 3),
    ("accordion", "Accordion", 2),
    ("accordion_item", "Accordion item", 2),
    ("tabs", "Tabs", 1),
    ("tab", "Tab", 2),
    ("gallery", "Gallery", 2),
    ("gallery_item", "Gallery item", 2),
    ("carousel", "Carousel", 2),
    ("carousel_slide", "Carousel slide", 3),
    ("video", "Video", 2),
    ("quote", "Quote", 3),
    ("stat", "Statistic", 3),
    ("stat_group", "Statistics", 1),
    ("timeline", "Timeline", 1),
    ("timeline_item", "Timeline item", 3),
    ("people_list", "People list", 2),
    ("event_list", "Event list", 2),
    ("news_list", "News list", 2),
    ("view_embed", "Embedded view", 2),
    ("block_embed", "Embedded block", 1),
    ("button", "Button", 2),
    ("button_group", "Button group", 1),
    ("callout", "Callout", 3),
    ("map", "Map", 3),
    ("embed", "Embed code", 2),
    ("two_column", "Two columns", 2),
    ("three_column", "Three columns", 2),
    ("section", "Section", 3),
    ("contact", "Contact", 3),
    ("icon_list", "Icon list", 1),
    ("icon_item", "Icon item", 3),
    ("logo_grid", "Logo grid", 2),
    ("program_finder", "Program finder", 3),
]

# (machine name, label, number of plain fields)
MEDIA_TYPES: list[tuple[str, str, int]] = [
    ("image", "Image", 3),
    ("document", "Document", 2),
    ("remote_video", "Remote video", 2),
    ("audio", "Audio", 2),
    ("svg", "SVG image", 2),
    ("video_file", "Video file", 2),
    ("instagram", "Instagram post", 1),
]

# (machine name, label, number of plain fields)
VOCABULARIES: list[tuple[str, str, int]] = [
    ("tags", "Tags", 0),
    ("department", "Departments", 4),
    ("college", "Colleges", 3),
    ("audience", "Audiences", 1),
    ("event_type", "Event types", 2),
    ("news_category", "News categories", 1),
    ("program_type", "Program types", 2),
    ("degree_type", "Degree types", 2),
    ("delivery_mode", "Delivery modes", 1),
    ("interest_area", "Areas of interest", 3),
    ("campus", "Campuses", 3),
    ("person_type", "Person types", 1),
    ("research_area", "Research areas", 3),
    ("course_subject", "Course subjects", 2),
    ("academic_term", "Academic terms", 2),
    ("policy_category", "Policy categories", 1),
    ("job_category", "Job categories", 1),
    ("award_type", "Award types", 1),
    ("organization_category", "Organization categories", 1),
    ("faq_category", "FAQ categories", 1),
    ("publication_type", "Publication types", 1),
    ("media_tags", "Media tags", 0),
    ("alert_level", "Alert levels", 2),
    ("building_feature", "Building features", 1),
    ("resource_type", "Resource types", 1),
    ("country", "Countries", 2),
]

# (machine name, label, number of plain fields)
BLOCK_TYPES: list[tuple[str, str, int]] = [
    ("basic", "Basic block", 1),
    ("cta_block", "Call-to-action block", 3),
    ("hero_block", "Hero block", 3),
    ("contact_block", "Contact block", 5),
    ("social_links", "Social links", 6),
    ("alert_banner", "Alert banner", 3),
    ("footer_block", "Footer block", 5),
    ("logo_block", "Logo block", 2),
]

# Plain fields (no reference, so no edge but the bundle's): name, label, type, cardinality.
PLAIN_FIELDS: list[tuple[str, str, str, str]] = [
    ("field_subtitle", "Subtitle", "string", "1"),
    ("field_summary", "Summary", "string_long", "1"),
    ("field_teaser_text", "Teaser text", "text_long", "1"),
    ("field_intro", "Introduction", "text_long", "1"),
    ("field_link", "Link", "link", "1"),
    ("field_links", "Related links", "link", "unlimited"),
    ("field_email", "Email", "email", "1"),
    ("field_phone", "Phone", "telephone", "1"),
    ("field_fax", "Fax", "telephone", "1"),
    ("field_address", "Address", "address", "1"),
    ("field_website", "Website", "link", "1"),
    ("field_start_date", "Start date", "datetime", "1"),
    ("field_end_date", "End date", "datetime", "1"),
    ("field_date", "Date", "datetime", "1"),
    ("field_date_range", "Dates", "daterange", "1"),
    ("field_weight", "Weight", "integer", "1"),
    ("field_featured", "Featured", "boolean", "1"),
    ("field_hide_title", "Hide title", "boolean", "1"),
    ("field_sticky_until", "Sticky until", "datetime", "1"),
    ("field_external_id", "External ID", "string", "1"),
    ("field_banner_style", "Banner style", "list_string", "1"),
    ("field_color", "Color", "list_string", "1"),
    ("field_layout", "Layout", "list_string", "1"),
    ("field_icon", "Icon", "string", "1"),
    ("field_caption", "Caption", "string_long", "1"),
    ("field_credit", "Credit", "string", "1"),
    ("field_alt_title", "Alternative title", "string", "1"),
    ("field_meta_tags", "Meta tags", "metatag", "1"),
    ("field_short_name", "Short name", "string", "1"),
    ("field_notes", "Internal notes", "text_long", "1"),
    ("field_status_note", "Status note", "string", "1"),
    ("field_cost", "Cost", "decimal", "1"),
    ("field_capacity", "Capacity", "integer", "1"),
    ("field_registration_url", "Registration link", "link", "1"),
    ("field_geolocation", "Map location", "geolocation", "1"),
    ("field_room", "Room", "string", "1"),
    ("field_hours", "Hours", "office_hours", "unlimited"),
    ("field_social_links", "Social links", "link", "unlimited"),
    ("field_video_url", "Video URL", "video_embed_field", "1"),
    ("field_transcript", "Transcript", "text_long", "1"),
    ("field_duration", "Duration", "string", "1"),
    ("field_year", "Year", "integer", "1"),
    ("field_amount", "Amount", "decimal", "1"),
    ("field_deadline", "Deadline", "datetime", "1"),
    ("field_eligibility", "Eligibility", "text_long", "1"),
    ("field_requirements", "Requirements", "text_long", "1"),
    ("field_outcomes", "Learning outcomes", "text_long", "1"),
    ("field_credits", "Credits", "decimal", "1"),
    ("field_tuition", "Tuition", "text_long", "1"),
    ("field_career_paths", "Career paths", "text_long", "1"),
    ("field_accreditation", "Accreditation", "string_long", "1"),
    ("field_admission", "Admission", "text_long", "1"),
    ("field_catalog_url", "Catalog link", "link", "1"),
    ("field_cip_code", "CIP code", "string", "1"),
    ("field_sort_name", "Sort name", "string", "1"),
    ("field_pronouns", "Pronouns", "string", "1"),
    ("field_title_position", "Position title", "string", "unlimited"),
    ("field_office_hours", "Office hours", "string_long", "1"),
    ("field_education", "Education", "text_long", "1"),
    ("field_biography", "Biography", "text_long", "1"),
    ("field_cv", "Curriculum vitae", "file", "1"),
    ("field_orcid", "ORCID", "string", "1"),
    ("field_netid", "NetID", "string", "1"),
    ("field_expertise", "Expertise", "string", "unlimited"),
    ("field_doi", "DOI", "string", "1"),
    ("field_citation", "Citation", "text_long", "1"),
    ("field_funding", "Funding", "string_long", "1"),
    ("field_salary", "Salary range", "string", "1"),
    ("field_apply_url", "Apply link", "link", "1"),
    ("field_review_date", "Next review", "datetime", "1"),
    ("field_effective_date", "Effective date", "datetime", "1"),
    ("field_policy_number", "Policy number", "string", "1"),
    ("field_file", "File", "file", "unlimited"),
    ("field_answer", "Answer", "text_long", "1"),
    ("field_quote", "Quote", "string_long", "1"),
    ("field_number", "Number", "string", "1"),
    ("field_label", "Label", "string", "1"),
    ("field_heading", "Heading", "string", "1"),
    ("field_body", "Body", "text_long", "1"),
    ("field_button", "Button", "link", "1"),
    ("field_embed", "Embed code", "text_long", "1"),
    ("field_view", "View", "viewsreference", "1"),
    ("field_block", "Block", "block_field", "1"),
    ("field_style", "Style", "list_string", "1"),
    ("field_columns", "Columns", "list_integer", "1"),
    ("field_background", "Background", "list_string", "1"),
    ("field_anchor", "Anchor", "string", "1"),
    ("field_items_count", "Number of items", "integer", "1"),
    ("field_height", "Height", "integer", "1"),
    ("field_svg_file", "SVG file", "file", "1"),
    ("field_media_file", "File", "file", "1"),
    ("field_media_oembed", "Video URL", "string", "1"),
    ("field_alt", "Alternative text", "string", "1"),
    ("field_focal_point", "Focal point", "string", "1"),
    ("field_copyright", "Copyright", "string", "1"),
    ("field_code", "Code", "string", "1"),
    ("field_abbreviation", "Abbreviation", "string", "1"),
    ("field_url_alias", "URL prefix", "string", "1"),
    ("field_description", "Description", "text_long", "1"),
]

# Reference fields, per bundle: (bundle config name, field name, label, target, cardinality).
# `target` is `<entity type>:<bundle>,<bundle>...` as in fields.csv.
Ref = tuple[str, str, str, str, str]


def _bundle_config(entity_type: str, machine: str) -> str:
    return f"{BUNDLE_CONFIG_PREFIXES[entity_type]}.{machine}"


def _node(name: str) -> str:
    return f"node.type.{name}"


def _vocab(name: str) -> str:
    return f"taxonomy.vocabulary.{name}"


SECTION_PARAGRAPHS = [
    "text", "image", "image_text", "card_group", "cta", "accordion", "tabs", "gallery",
    "carousel", "video", "quote", "stat_group", "timeline", "people_list", "event_list",
    "news_list", "view_embed", "block_embed", "button_group", "callout", "map", "embed",
    "two_column", "three_column", "section", "contact", "icon_list", "logo_grid",
]  # fmt: skip

# The reference fields: `field name | target | cardinality (n: unlimited) | label`, then
# the bundles that have it, per entity type. The target is `<entity type>:<bundle>,...`
# as in fields.csv; each bundle it names becomes a `depends_on` of the field.
REFERENCE_TABLE = """
field_hero_image | media:image | 1 | Hero image
    node: page landing_page news event program department location scholarship
        research_project story spotlight lab organization podcast_episode award gallery video
        job_posting campaign
field_teaser_image | media:image | 1 | Teaser image
    node: news event program
field_headshot | media:image | 1 | Headshot
    node: person
field_banner_image | media:image | 1 | Banner image
    node: person
field_images | media:image | n | Images
    node: gallery exhibit
field_gallery | media:image | n | Gallery
    node: program
field_photo | media:image | 1 | Photo
    node: testimonial
field_cover | media:image | 1 | Cover
    node: publication
field_documents | media:document | n | Documents
    node: page program policy scholarship department course job_posting grant research_project
        publication event service resource study_abroad
field_video | media:remote_video,video_file | 1 | Video
    node: news event program story spotlight video landing_page
    paragraph: video
field_audio | media:audio | 1 | Audio
    node: podcast_episode
field_logo | media:svg,image | 1 | Logo
    node: department organization athletics_team
    block_content: logo_block
field_author | node:person | 1 | Author
    node: news
field_people | node:person | n | People in this story
    node: news
field_speakers | node:person | n | Speakers
    node: event
field_contact | node:person | 1 | Contact
    node: event scholarship
field_faculty | node:person | n | Faculty
    node: program
field_advisors | node:person | n | Advisors
    node: program
field_contact | node:person | 1 | Program contact
    node: program
field_director | node:person | 1 | Program director
    node: program
field_instructors | node:person | n | Instructors
    node: course
field_coordinator | node:person | 1 | Coordinator
    node: course
field_chair | node:person | 1 | Chair
    node: department
field_staff | node:person | n | Staff
    node: department
field_contacts | node:person | n | Contacts
    node: department
field_investigators | node:person | n | Investigators
    node: research_project grant
field_students | node:person | n | Students
    node: research_project
field_authors | node:person | n | Authors
    node: publication
field_director | node:person | 1 | Director
    node: lab
field_members | node:person | n | Members
    node: lab
field_person | node:person | 1 | Person
    node: spotlight
    paragraph: contact quote
    block_content: contact_block
field_recipients | node:person | n | Recipients
    node: award
field_advisor | node:person | 1 | Advisor
    node: organization
field_contact | node:person | 1 | Hiring contact
    node: job_posting
field_programs | node:program | n | Programs
    node: course person scholarship study_abroad
field_courses | node:course | n | Required courses
    node: program
field_related_programs | node:program | n | Related programs
    node: program
field_location | node:location | 1 | Location
    node: event department lab service exhibit clinic
field_office | node:location | 1 | Office
    node: person
field_program | node:program | 1 | Program
    node: spotlight testimonial
field_related | node:news,event,story | n | Related content
    node: news
field_publications | node:publication | n | Publications
    node: research_project person
field_grants | node:grant | n | Grants
    node: research_project
field_research | node:research_project | n | Research projects
    node: person
field_related_pages | node:page,program | n | Related pages
    node: faq
field_related | node:story,news | n | Related stories
    node: podcast_episode
field_department | taxonomy_term:department | n | Department
    node: news event person program course department location scholarship research_project
        publication story spotlight lab grant job_posting policy page award organization faq
        announcement service clinic library_guide study_abroad resource
field_audience | taxonomy_term:audience | n | Audience
    node: news event page landing_page announcement alert faq scholarship story service
        resource newsletter_issue
field_tags | taxonomy_term:tags | n | Tags
    node: news event story spotlight video podcast_episode gallery publication page resource
        exhibit
field_college | taxonomy_term:college | 1 | College
    node: program department person course scholarship
    paragraph: program_finder
    taxonomy_term: department
field_campus | taxonomy_term:campus | n | Campus
    node: program event location department course job_posting
field_interests | taxonomy_term:interest_area | n | Areas of interest
    node: program news story event organization scholarship study_abroad
field_research_areas | taxonomy_term:research_area | n | Research areas
    node: person research_project lab publication grant
field_event_type | taxonomy_term:event_type | 1 | Event type
    node: event event_series
    paragraph: event_list
field_category | taxonomy_term:news_category | 1 | Category
    node: news
    paragraph: news_list
field_program_type | taxonomy_term:program_type | 1 | Program type
    node: program
field_degree | taxonomy_term:degree_type | n | Degree
    node: program
field_delivery | taxonomy_term:delivery_mode | n | Delivery
    node: program course
field_subject | taxonomy_term:course_subject | 1 | Subject
    node: course library_guide
field_terms | taxonomy_term:academic_term | n | Terms offered
    node: course
field_terms | taxonomy_term:academic_term | n | Terms
    node: scholarship study_abroad
field_person_type | taxonomy_term:person_type | n | Person type
    node: person
field_category | taxonomy_term:policy_category | 1 | Category
    node: policy
field_category | taxonomy_term:job_category | 1 | Category
    node: job_posting
field_award_type | taxonomy_term:award_type | 1 | Award type
    node: award
field_category | taxonomy_term:organization_category | 1 | Category
    node: organization
field_category | taxonomy_term:faq_category | 1 | Category
    node: faq
field_type | taxonomy_term:publication_type | 1 | Publication type
    node: publication
field_level | taxonomy_term:alert_level | 1 | Alert level
    node: alert
field_features | taxonomy_term:building_feature | n | Features
    node: location
field_related_services | node:service | n | Related services
    node: service
field_resource_type | taxonomy_term:resource_type | 1 | Resource type
    node: resource
field_events | node:event | n | Events
    node: event_series exhibit
field_campus | taxonomy_term:campus | 1 | Campus
    node: event_series athletics_team clinic
field_season | taxonomy_term:academic_term | 1 | Season
    node: athletics_team
field_schedule | node:event | n | Schedule
    node: athletics_team
field_country | taxonomy_term:country | n | Country
    node: study_abroad
field_resources | node:resource | n | Resources
    node: library_guide
field_services | node:service | n | Services
    node: clinic
field_stories | node:story,news | n | Stories
    node: campaign
field_department | taxonomy_term:department | 1 | Department
    node: campaign
    paragraph: people_list event_list news_list
    taxonomy_term: course_subject
    block_content: contact_block
field_stories | node:news,story,event | n | Stories
    node: newsletter_issue
field_image | media:image | 1 | Image
    paragraph: image image_text hero card gallery_item carousel_slide cta quote callout
        section timeline_item stat
    taxonomy_term: department college research_area
    block_content: cta_block hero_block
field_logos | media:image,svg | n | Logos
    paragraph: logo_grid
field_icon_image | media:svg | 1 | Icon
    paragraph: icon_item
field_video | media:video_file | 1 | Video
    paragraph: hero_video
field_poster | media:image | 1 | Poster image
    paragraph: hero_video
field_people | node:person | n | People
    paragraph: people_list
field_content | node:page,news,event,program,story | 1 | Content
    paragraph: card
field_program_types | taxonomy_term:program_type | n | Program types
    paragraph: program_finder
field_cards | paragraph:card | n | Cards
    paragraph: card_group
field_items | paragraph:accordion_item | n | Items
    paragraph: accordion
field_tabs | paragraph:tab | n | Tabs
    paragraph: tabs
field_items | paragraph:gallery_item | n | Items
    paragraph: gallery
field_slides | paragraph:carousel_slide | n | Slides
    paragraph: carousel
field_stats | paragraph:stat | n | Statistics
    paragraph: stat_group
field_items | paragraph:timeline_item | n | Items
    paragraph: timeline
field_buttons | paragraph:button | n | Buttons
    paragraph: button_group
field_items | paragraph:icon_item | n | Items
    paragraph: icon_list
field_content | paragraph:text,image,button_group | n | Content
    paragraph: accordion_item
field_content | paragraph:text,image,card_group,button_group | n | Content
    paragraph: tab
field_first | paragraph:text,image,cta,video,quote | n | First
    paragraph: two_column three_column
field_second | paragraph:text,image,cta,video,quote | n | Second
    paragraph: two_column three_column
field_third | paragraph:text,image,cta,video,quote | n | Third
    paragraph: three_column
field_page | node:department | 1 | Department page
    taxonomy_term: department
field_dean | node:person | 1 | Dean
    taxonomy_term: college
field_media_tags | taxonomy_term:media_tags | n | Tags
    media: image document remote_video
field_alert | node:alert | 1 | Alert
    block_content: alert_banner
"""


def _parse_references(text: str) -> list[Ref]:
    refs: list[Ref] = []
    field_spec: tuple[str, str, str, str] | None = None
    entity_type = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            name, target, cardinality, label = (part.strip() for part in line.split("|"))
            field_spec = (name, target, "unlimited" if cardinality == "n" else cardinality, label)
            continue
        if field_spec is None:
            raise ValueError(f"bundles before any field: {line!r}")
        words = line.split()
        if words[0].endswith(":"):
            entity_type, words = words[0][:-1], words[1:]
        name, target, cardinality, label = field_spec
        refs += [(_bundle_config(entity_type, b), name, label, target, cardinality) for b in words]
    return refs


REFERENCES = _parse_references(REFERENCE_TABLE)

# field_sections (and field_sidebar) of content types: the paragraph types they allow.
SECTIONS: list[tuple[str, str, str, int]] = [
    # (node type, field name, label, number of allowed section paragraphs)
    ("page", "field_sections", "Sections", 18),
    ("landing_page", "field_sections", "Sections", 26),
    ("news", "field_sections", "Story sections", 10),
    ("event", "field_sections", "Sections", 8),
    ("program", "field_sections", "Sections", 16),
    ("department", "field_sections", "Sections", 16),
    ("story", "field_sections", "Story sections", 14),
    ("research_project", "field_sections", "Sections", 8),
    ("lab", "field_sections", "Sections", 8),
    ("organization", "field_sections", "Sections", 6),
    ("location", "field_sections", "Sections", 5),
    ("person", "field_sections", "Profile sections", 6),
    ("page", "field_sidebar", "Sidebar", 6),
    ("landing_page", "field_sidebar", "Sidebar", 6),
    ("department", "field_sidebar", "Sidebar", 6),
    ("program", "field_sidebar", "Sidebar", 5),
    ("service", "field_sections", "Sections", 8),
    ("study_abroad", "field_sections", "Sections", 10),
    ("athletics_team", "field_sections", "Sections", 8),
    ("clinic", "field_sections", "Sections", 8),
    ("campaign", "field_sections", "Sections", 12),
]

# ------------------------------------------------------------------ other kinds

IMAGE_STYLES: list[tuple[str, str, str]] = [
    ("thumbnail", "Thumbnail (100x100)", "image_scale 100x100"),
    ("medium", "Medium (220x220)", "image_scale 220x220"),
    ("large", "Large (480x480)", "image_scale 480x480"),
    ("wide", "Wide (1090)", "image_scale 1090x"),
    ("card", "Card", "focal_point_scale_and_crop 600x400"),
    ("card_2x", "Card 2x", "focal_point_scale_and_crop 1200x800"),
    ("teaser", "Teaser", "focal_point_scale_and_crop 400x300"),
    ("teaser_2x", "Teaser 2x", "focal_point_scale_and_crop 800x600"),
    ("headshot", "Headshot", "focal_point_scale_and_crop 300x375"),
    ("headshot_small", "Headshot small", "focal_point_scale_and_crop 120x150"),
    ("hero_desktop", "Hero desktop", "focal_point_scale_and_crop 1920x800"),
    ("hero_tablet", "Hero tablet", "focal_point_scale_and_crop 1024x600"),
    ("hero_mobile", "Hero mobile", "focal_point_scale_and_crop 640x640"),
    ("banner", "Banner", "focal_point_scale_and_crop 1920x400"),
    ("banner_mobile", "Banner mobile", "focal_point_scale_and_crop 640x300"),
    ("square", "Square", "focal_point_scale_and_crop 500x500"),
    ("square_small", "Square small", "focal_point_scale_and_crop 150x150"),
    ("gallery_full", "Gallery full", "image_scale 1600x1200"),
    ("gallery_thumb", "Gallery thumbnail", "focal_point_scale_and_crop 240x180"),
    ("logo", "Logo", "image_scale 300x"),
    ("logo_small", "Logo small", "image_scale 120x"),
    ("event_date_card", "Event card", "focal_point_scale_and_crop 480x320"),
    ("news_feature", "News feature", "focal_point_scale_and_crop 1200x675"),
    ("news_list", "News list", "focal_point_scale_and_crop 360x240"),
    ("program_card", "Program card", "focal_point_scale_and_crop 560x360"),
    ("map_thumb", "Map thumbnail", "image_scale_and_crop 320x240"),
    ("social_share", "Social share", "image_scale_and_crop 1200x630"),
    ("media_library", "Media library thumbnail", "image_scale 220x220"),
    ("crop_freeform", "Freeform crop", "crop_crop; image_scale 1600x"),
    ("crop_16_9", "16:9 crop", "crop_crop; image_scale_and_crop 1600x900"),
    ("crop_4_3", "4:3 crop", "crop_crop; image_scale_and_crop 1200x900"),
    ("crop_1_1", "1:1 crop", "crop_crop; image_scale_and_crop 900x900"),
    ("full_width", "Full width", "image_scale 2400x"),
    ("inline_small", "Inline small", "image_scale 320x"),
    ("inline_large", "Inline large", "image_scale 800x"),
]

MENUS: list[tuple[str, str, str]] = [
    ("main", "Main navigation", "The site's main menu."),
    ("footer", "Footer", "Footer links."),
    ("utility", "Utility", "Apply, visit, give: the links above the header."),
    ("audience", "Audience menu", "Links for students, faculty and staff, alumni, parents."),
    ("admin", "Administration", "Administrative task links."),
    ("account", "User account menu", "Links related to the active user account."),
    ("tools", "Tools", "User tool links, often added by modules."),
    ("social", "Social media", "The university's social media accounts."),
    ("quick_links", "Quick links", "Frequently used services."),
    ("admissions", "Admissions", "Admissions section menu."),
    ("academics", "Academics", "Academics section menu."),
    ("research", "Research", "Research section menu."),
    ("student_life", "Student life", "Student life section menu."),
    ("athletics", "Athletics", "Athletics section menu."),
    ("about", "About", "About the university."),
    ("news_menu", "Newsroom", "Newsroom section menu."),
    ("events_menu", "Events", "Events calendar menu."),
    ("library", "Library", "Library section menu."),
    ("alumni", "Alumni", "Alumni and giving section menu."),
    ("hr", "Human resources", "Human resources section menu."),
    ("it", "Information technology", "IT services section menu."),
    ("policies", "Policies", "Policy library menu."),
    ("giving", "Giving", "Giving section menu."),
    ("editor_tools", "Editor tools", "Shortcuts for content editors."),
]

# (machine name, label, is admin, generic permissions, bundles it may create)
ROLES: list[tuple[str, str, bool, list[str], list[str]]] = [
    ("anonymous", "Anonymous user", False, ["access content", "view media", "search content"],
     []),
    ("authenticated", "Authenticated user", False,
     ["access content", "view media", "search content", "access shortcuts"], []),
    ("administrator", "Administrator", True, [], []),
    ("site_administrator", "Site administrator", False,
     ["administer nodes", "access content overview", "administer taxonomy", "administer users",
      "administer menu", "administer blocks", "view the administration theme",
      "access site reports", "administer redirects", "administer url aliases"], []),
    ("editor", "Editor", False,
     ["access content overview", "bypass node access", "view any unpublished content",
      "use editorial transition publish", "use editorial transition archive",
      "access media overview", "view the administration theme"], []),
    ("content_author", "Content author", False,
     ["access content overview", "view own unpublished content",
      "use editorial transition create_new_draft"],
     ["page", "news", "story", "faq"]),
    ("event_manager", "Event manager", False, ["access content overview"],
     ["event", "location"]),
    ("news_editor", "News editor", False, ["access content overview"],
     ["news", "story", "spotlight", "podcast_episode"]),
    ("program_coordinator", "Program coordinator", False, ["access content overview"],
     ["program", "course", "scholarship"]),
    ("faculty", "Faculty", False, ["edit own person content"], ["publication", "research_project"]),
    ("hr_editor", "HR editor", False, ["access content overview"], ["job_posting", "policy"]),
    ("alert_manager", "Alert manager", False, ["access content overview"], ["alert"]),
    ("department_editor", "Department editor", False, ["access content overview"],
     ["page", "landing_page", "news", "event", "department", "service", "resource",
      "faq", "location", "gallery"]),
    ("marketing", "Marketing", False, ["access content overview"],
     ["campaign", "landing_page", "story", "testimonial", "newsletter_issue", "video",
      "gallery", "spotlight"]),
    ("student_worker", "Student worker", False, ["access content overview"],
     ["event", "gallery", "organization", "athletics_team"]),
]  # fmt: skip

ADMIN_ROLES = ("site_administrator", "editor")

WORKFLOWS: list[tuple[str, str, list[str]]] = [
    ("editorial", "Editorial",
     ["page", "landing_page", "news", "event", "program", "course", "department", "story",
      "spotlight", "research_project", "publication", "lab", "scholarship", "policy", "faq",
      "podcast_episode", "award", "organization", "person", "location"]),
    ("quick_publish", "Quick publish", ["announcement", "alert", "testimonial", "gallery",
                                        "video", "grant", "job_posting", "webform_page"]),
    ("media_review", "Media review", []),
]  # fmt: skip

# ------------------------------------------------------------------ rows


@dataclass
class _Site:
    rng: random.Random
    rows: dict[Kind, list[dict[str, str]]] = field(default_factory=dict)

    def add(self, kind: Kind, row: dict[str, str], depends_on: Iterable[str] = ()) -> None:
        deps = sorted(set(depends_on) - {row["config_name"]})
        self.rows.setdefault(kind, []).append(row | {"depends_on": "; ".join(deps)})


def _target_config(target: str) -> list[str]:
    entity_type, _, bundles = target.partition(":")
    return [_bundle_config(entity_type, b) for b in bundles.split(",") if b]


def _field_row(
    site: _Site,
    bundle: str,
    name: str,
    label: str,
    field_type: str,
    cardinality: str,
    target: str = "",
    description: str = "",
) -> None:
    prefix, _, machine = bundle.rpartition(".")
    entity_type = next(t for t, p in BUNDLE_CONFIG_PREFIXES.items() if p == prefix)
    required = "true" if name in ("field_headshot", "field_media_image") else "false"
    site.add(
        Kind.FIELDS,
        {
            "config_name": f"field.field.{entity_type}.{machine}.{name}",
            "entity_type": entity_type,
            "bundle": machine,
            "field_name": name,
            "label": label,
            "field_type": field_type,
            "required": required,
            "cardinality": cardinality,
            "target": target,
            "description": description,
        },
        [bundle, *_target_config(target)],
    )


def _bundles(site: _Site) -> dict[str, int]:
    """The bundle rows; returns each bundle's number of plain fields."""
    plain: dict[str, int] = {}
    groups: list[tuple[str, list[tuple[str, str, str, int]]]] = [
        ("node", NODE_TYPES),
        ("paragraph", [(m, label, "", n) for m, label, n in PARAGRAPH_TYPES]),
        ("media", [(m, label, "", n) for m, label, n in MEDIA_TYPES]),
        ("taxonomy_term", [(m, label, "", n) for m, label, n in VOCABULARIES]),
        ("block_content", [(m, label, "", n) for m, label, n in BLOCK_TYPES]),
    ]
    for entity_type, bundles in groups:
        for machine, label, description, fields in bundles:
            config_name = _bundle_config(entity_type, machine)
            site.add(
                Kind.BUNDLES,
                {
                    "config_name": config_name,
                    "entity_type": entity_type,
                    "machine_name": machine,
                    "label": label,
                    "description": description or f"{label} ({entity_type.replace('_', ' ')}).",
                },
            )
            plain[config_name] = fields
    return plain


def _fields(site: _Site, plain: dict[str, int]) -> None:
    taken: dict[str, set[str]] = {bundle: set() for bundle in plain}
    references = list(REFERENCES)
    for node_type, name, label, count in SECTIONS:
        allowed = sorted(site.rng.sample(SECTION_PARAGRAPHS, count))
        references.append(
            (_node(node_type), name, label, "paragraph:" + ",".join(allowed), "unlimited")
        )
    for bundle, name, label, target, cardinality in references:
        if name in taken[bundle]:
            raise ValueError(f"{bundle} has {name} twice")
        taken[bundle].add(name)
        field_type = (
            "entity_reference_revisions"
            if target.startswith("paragraph:")
            else ("entity_reference")
        )
        _field_row(site, bundle, name, label, field_type, cardinality, target)
    for bundle, count in plain.items():
        left = count
        if bundle.startswith("media.type."):
            source = "image" if bundle.endswith((".image", ".svg")) else "file"
            _field_row(site, bundle, "field_media_" + source, "Source", source, "1")
            left -= 1
        if bundle.startswith("node.type.") and "body" not in taken[bundle]:
            _field_row(site, bundle, "body", "Body", "text_with_summary", "1")
            left -= 1
        free = [f for f in PLAIN_FIELDS if f[0] not in taken[bundle]]
        for name, label, field_type, cardinality in site.rng.sample(free, max(0, left)):
            _field_row(site, bundle, name, label, field_type, cardinality)


def _views(site: _Site) -> None:
    rng = site.rng
    node_types = [n for n, *_ in NODE_TYPES]
    image_styles = [s for s, *_ in IMAGE_STYLES]
    menus = [m for m, *_ in MENUS]
    vocabularies = [v for v, *_ in VOCABULARIES]
    media_types = [m for m, *_ in MEDIA_TYPES]
    # Public listings of one content type, their displays and filters.
    public: list[tuple[str, str, str, list[str]]] = []
    for node_type in node_types:
        for suffix, label in (("listing", "listing"), ("feed", "feed"), ("related", "related")):
            if suffix != "listing" and rng.random() < 0.55:
                continue
            public.append((f"{node_type}_{suffix}", f"{node_type} {label}", node_type, []))
    for vocabulary in vocabularies[:12]:
        public.append((f"taxonomy_{vocabulary}", f"{vocabulary} terms", "", [vocabulary]))
    public += [
        ("people_directory", "People directory", "person", ["department", "person_type"]),
        ("faculty_by_department", "Faculty by department", "person", ["department"]),
        ("experts", "Experts guide", "person", ["research_area", "department"]),
        ("program_finder", "Program finder", "program",
         ["program_type", "degree_type", "delivery_mode", "interest_area", "college"]),
        ("course_catalog", "Course catalog", "course", ["course_subject", "academic_term"]),
        ("events_calendar", "Events calendar", "event", ["event_type", "campus", "audience"]),
        ("newsroom", "Newsroom", "news", ["news_category", "department", "tags"]),
        ("search", "Site search", "", []),
        ("frontpage", "Front page", "", []),
        ("taxonomy_term", "Taxonomy term", "", []),
        ("archive", "Archive", "", []),
        ("glossary", "Glossary", "", []),
    ]  # fmt: skip
    for machine, label, node_type, filters in public:
        base = "taxonomy_term_field_data" if machine.startswith("taxonomy_") else "node_field_data"
        deps = [_node(node_type)] if node_type else []
        deps += [_vocab(v) for v in filters]
        if node_type and rng.random() < 0.8:
            deps += [_vocab(v) for v in rng.sample(vocabularies, rng.randint(1, 2))]
        if rng.random() < 0.8:
            deps += [f"image.style.{s}" for s in rng.sample(image_styles, rng.randint(1, 3))]
        displays = ["default(default)"]
        if rng.random() < 0.7:
            path = "/" + machine.replace("_", "-")
            displays.append(f"page_1(page: {path})")
            if rng.random() < 0.3:
                deps.append(f"system.menu.{rng.choice(menus[:4] + menus[9:19])}")
        displays.append("block_1(block)")
        if machine.endswith("_feed"):
            displays.append(f"feed_1(feed: /{machine.replace('_', '-')}.xml)")
        _view_row(site, machine, label.capitalize(), base, displays, deps)
    # Admin views: a listing per content type and media type, dashboards, reports, entity
    # browsers; access by role (site administrator, often editor too).
    admin: list[tuple[str, str, str, list[str]]] = []
    for node_type in node_types:
        admin.append((f"admin_{node_type}", f"Manage {node_type.replace('_', ' ')}", "node",
                      [_node(node_type)]))  # fmt: skip
    for media_type in media_types[:4]:
        admin.append((f"admin_media_{media_type}", f"Manage {media_type} media", "media",
                      [_bundle_config("media", media_type)]))  # fmt: skip
    admin += [
        ("content", "Content", "node", []),
        ("media", "Media", "media", []),
        ("media_library", "Media library", "media", ["image.style.media_library"]),
        (
            "image_browser",
            "Image browser",
            "media",
            ["media.type.image", "image.style.media_library"],
        ),
        ("document_browser", "Document browser", "media", ["media.type.document"]),
        ("person_browser", "Person browser", "node", [_node("person")]),
        ("content_browser", "Content browser", "node", []),
        ("moderation_dashboard", "Moderation dashboard", "node", ["workflows.workflow.editorial"]),
        ("moderated_content", "Moderated content", "node", ["workflows.workflow.editorial"]),
        ("my_drafts", "My drafts", "node", ["workflows.workflow.editorial"]),
        ("scheduled_content", "Scheduled content", "node", []),
        ("stale_content", "Content not reviewed in a year", "node", []),
        ("broken_links", "Broken links report", "node", []),
        ("redirects_report", "Redirects", "node", []),
        ("user_admin_people", "People", "users", []),
        ("files", "Files", "file_managed", []),
        ("block_content", "Custom block library", "block_content", []),
        ("taxonomy_admin", "Terms overview", "taxonomy_term", []),
        ("alerts_admin", "Active alerts", "node", [_node("alert")]),
        (
            "department_pages",
            "Department pages by college",
            "node",
            [_node("department"), _vocab("college")],
        ),
        ("event_registrations", "Event registrations export", "node", [_node("event")]),
        ("program_export", "Program data export", "node", [_node("program")]),
        ("person_export", "Directory export", "node", [_node("person"), _vocab("department")]),
    ]
    for position, (machine, label, base, deps) in enumerate(admin):
        roles = ["site_administrator"] if position % 7 != 6 else []
        if position % 3 != 2:
            roles.append("editor")
        if machine.startswith("admin_") and rng.random() < 0.2:
            roles.append(rng.choice(["content_author", "news_editor", "program_coordinator"]))
        displays = [
            "default(default)",
            f"page_1(page: /admin/content/{machine.removeprefix('admin_').replace('_', '-')})",
        ]
        extra = ["system.menu.admin"] if position % 3 == 0 else []
        _view_row(
            site,
            machine,
            label,
            f"{base}_field_data" if base in ("node", "media", "taxonomy_term") else base,
            displays,
            [*deps, *extra, *(f"user.role.{r}" for r in roles)],
        )


def _view_row(
    site: _Site, machine: str, label: str, base: str, displays: list[str], deps: list[str]
) -> None:
    site.add(
        Kind.VIEWS,
        {
            "config_name": f"views.view.{machine}",
            "machine_name": machine,
            "label": label,
            "description": "",
            "base_table": base,
            "displays": "; ".join(displays),
        },
        deps,
    )


def _others(site: _Site) -> None:
    for machine, label, effects in IMAGE_STYLES:
        site.add(
            Kind.IMAGE_STYLES,
            {
                "config_name": f"image.style.{machine}",
                "machine_name": machine,
                "label": label,
                "effects": effects,
            },
        )
    for machine, label, description in MENUS:
        site.add(
            Kind.MENUS,
            {
                "config_name": f"system.menu.{machine}",
                "machine_name": machine,
                "label": label,
                "description": description,
            },
        )
    for machine, label, is_admin, permissions, creates in ROLES:
        granted = [*permissions]
        for node_type in creates:
            granted += [f"create {node_type} content", f"edit any {node_type} content"]
        site.add(
            Kind.ROLES,
            {
                "config_name": f"user.role.{machine}",
                "machine_name": machine,
                "label": label,
                "is_admin": "true" if is_admin else "false",
                "permissions": "; ".join(granted),
            },
            [_node(n) for n in creates],
        )
    for machine, label, node_types in WORKFLOWS:
        if node_types:
            states = "Draft; Needs review; Published; Archived"
            transitions = (
                "Create New Draft: draft,published->draft; Submit: draft->review; "
                "Publish: review,draft->published; Archive: published->archived"
            )
            applies = "node:" + ",".join(node_types)
        else:
            states = "Pending; Approved"
            transitions = "Approve: pending->approved"
            applies = ""
        site.add(
            Kind.WORKFLOWS,
            {
                "config_name": f"workflows.workflow.{machine}",
                "machine_name": machine,
                "label": label,
                "type": "content_moderation",
                "states": states,
                "transitions": transitions,
                "applies_to": applies,
            },
            [_node(n) for n in node_types],
        )


FILE_NAMES: dict[Kind, str] = {kind: f"{kind.value}.csv" for kind in Kind}


def university_rows(seed: int = SEED) -> dict[Kind, list[dict[str, str]]]:
    """The site's rows per kind, each with its `depends_on` (`; `-separated)."""
    site = _Site(random.Random(seed))
    plain = _bundles(site)
    _fields(site, plain)
    _views(site)
    _others(site)
    return site.rows


def _csv(kind: Kind, rows: Sequence[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(expected_columns(kind)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: row["config_name"]))
    return out.getvalue().encode()


def university_site(seed: int = SEED) -> list[UploadedFile]:
    """The hub-heavy university site as uploaded CSV files, one per kind."""
    rows = university_rows(seed)
    return [UploadedFile(FILE_NAMES[kind], _csv(kind, rows[kind])) for kind in Kind if kind in rows]


def write_site(folder: Path, files: Sequence[UploadedFile]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file in files:
        path = folder / file.name
        path.write_bytes(file.content)
        written.append(path)
    return written


# ------------------------------------------------------------------ the check


@dataclass(frozen=True)
class Graph:
    """The tickets and `depends_on` edges the product derived from an inventory."""

    labels: dict[UUID, str]  # ticket id -> config name
    edges: list[tuple[UUID, UUID]]  # (ticket, the ticket it depends on)

    @property
    def blocks(self) -> Counter[UUID]:
        """Per ticket: how many tickets it blocks (depend on it)."""
        return Counter(dep for _, dep in self.edges)

    @property
    def links(self) -> Counter[UUID]:
        """Per ticket: links it takes part in, either side (writes on its Jira issue)."""
        counts: Counter[UUID] = Counter()
        for ticket, dep in self.edges:
            counts[ticket] += 1
            counts[dep] += 1
        return counts


def derived_graph(files: Sequence[UploadedFile]) -> Graph:
    """Parse the files and run the offline generation as the product does (an embedded
    container in a temporary directory); the tickets' `depends_on` are the edges."""
    from application.inventory.parse import parse_inventory
    from application.users import User
    from interfaces.bootstrap import bootstrap
    from interfaces.settings import Settings

    user = User("bench")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            TICKETFORGE_DATA_DIR=str(Path(tmp) / "data"),
            TICKETFORGE_GENERATOR="offline",
            TICKETFORGE_EMBEDDED_NATS=False,
        )
        container = bootstrap(settings)
        try:
            app = container.app
            sid = app.create_session(
                name="bench sites", site={"site_name": SITE_NAME}, jira_project_key="DEMO",
                issue_type="Task", user=user,
            ).session_id  # fmt: skip
            app.upload_inventory(sid, parse_inventory(files), user)
            task_id, _, _ = app.request_generation(sid, "offline", user)
            status = container.generation.run(sid, task_id)
            if status != "completed":
                raise SystemExit(f"generation ended {status}")
            session = app.load_session(sid, user)
            tickets = list(session.tickets.values())
        finally:
            container.close()
    return Graph(
        labels={t.id: t.config_name for t in tickets},
        edges=[(t.id, dep) for t in tickets for dep in sorted(t.depends_on)],
    )


def histogram(values: Iterable[int], bins: Sequence[int]) -> list[tuple[str, int]]:
    """Counts of `values` per bin: `bins` are the lower bounds, the last bin open."""
    counts = [0] * len(bins)
    for value in values:
        index = max(i for i, low in enumerate(bins) if value >= low)
        counts[index] += 1
    labels = [
        f"{low}-{bins[i + 1] - 1}" if i + 1 < len(bins) and bins[i + 1] - 1 > low else str(low)
        for i, low in enumerate(bins)
    ]
    labels[-1] = f"{bins[-1]}+"
    return list(zip(labels, counts, strict=True))


BINS = (0, 1, 2, 5, 10, 20, 30, 40, 50, 61)


def describe(graph: Graph, top: int = 12) -> str:
    blocks, links = graph.blocks, graph.links
    lines = [f"tickets {len(graph.labels)}, dependency edges {len(graph.edges)}", ""]
    lines.append("tickets by how many tickets they block (dependents):")
    every = [blocks.get(t, 0) for t in graph.labels]
    lines += [f"  {label:>6}: {count}" for label, count in histogram(every, BINS)]
    lines.append("tickets by links on their issue (either side):")
    every = [links.get(t, 0) for t in graph.labels]
    lines += [f"  {label:>6}: {count}" for label, count in histogram(every, BINS)]
    lines.append(f"top {top} blockers (dependents / links on the issue):")
    for ticket, count in blocks.most_common(top):
        lines.append(f"  {count:3d} / {links[ticket]:3d}  {graph.labels[ticket]}")
    busiest, most = links.most_common(1)[0]
    lines.append(f"busiest issue: {graph.labels[busiest]} ({most} links)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, nargs="?", help="write the CSV files here")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--check", action="store_true", help="parse + offline generation; print the graph"
    )
    args = parser.parse_args(argv)
    if args.outdir is None and not args.check:
        parser.error("give OUTDIR, --check, or both")
    files = university_site(args.seed)
    if args.outdir is not None:
        for path in write_site(args.outdir, files):
            rows = path.read_bytes().count(b"\n") - 1
            print(f"{path}: {rows} rows")
    if args.check:
        print(describe(derived_graph(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
