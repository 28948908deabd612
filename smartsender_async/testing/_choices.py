"""What the emulator does where the reference is silent, and where each behaviour comes from.

Every behaviour of the emulator is either taken from the API reference (``documented``:
stated by the vendor's page; ``seen``: seen in public client code or live answers;
``inferred``: inferred from the evidence) or is the emulator's own ``choice`` where the
reference tags the fact unknown.  ``CHOICES`` lists them; the emulator's docstring, its
``--help`` and the docs page on the emulator are made from this one list.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["CHOICES", "Behaviour"]

Evidence = Literal["documented", "seen", "inferred", "choice"]


@attrs.frozen
class Behaviour:
    """One behaviour of the emulator and the evidence behind it."""

    #: A short name, unique in ``CHOICES`` (``"bad-token-status"``).
    name: str
    #: Where it comes from: ``documented``, ``seen``, ``inferred`` or ``choice``.
    evidence: Evidence
    #: What the emulator does, in one sentence.
    summary: str
    #: How to change it, when an option exists (``"Emulator(bad_token_status=403)"``).
    option: str | None = None


#: Append new entries; keep one entry per behaviour.
CHOICES: tuple[Behaviour, ...] = (
    Behaviour(
        "rate-limit",
        "documented",
        "180 requests per minute per token; a breach answers 423 with the lock's seconds.",
        "Emulator(rate_limit=(N, seconds))",
    ),
    Behaviour(
        "page-size",
        "documented",
        (
            'Every list takes page >= 1 and limitation 1..20; above 20 answers 422 "Maximum '
            'available limitation reached".'
        ),
    ),
    Behaviour(
        "message-page-size",
        "choice",
        (
            "The two message lists refuse limitation above 20 too (one live client sends 100,"
            " another saw it refused)."
        ),
        "Emulator(message_limitation_max=100)",
    ),
    Behaviour(
        "bad-token-status",
        "choice",
        (
            'A missing or wrong token answers 401 with the message "Unauthenticated"; most '
            "real clients check for 403."
        ),
        "Emulator(bad_token_status=403)",
    ),
    Behaviour(
        "empty-array-body",
        "seen",
        (
            "A JSON body of [] (PHP's json_encode([])) reads as no parameters on every route,"
            " as Laravel reads it."
        ),
    ),
    Behaviour(
        "error-body",
        "inferred",
        (
            'Errors answer {"error": {"code": status, "message": ...}}; a 422 adds '
            '"description": {field: [messages]} in Laravel\'s wording.'
        ),
    ),
    Behaviour(
        "unknown-id",
        "inferred",
        ('An unknown or non-numeric id in a path answers 404 with the message "Not found".'),
    ),
    Behaviour(
        "timestamps",
        "inferred",
        (
            "Timestamps are RFC 3339 UTC with microseconds, e.g. 2026-03-18T16:40:12.000000Z; "
            "the clock starts at a fixed instant unless told otherwise."
        ),
        "Emulator(epoch=datetime or Unix seconds)",
    ),
    Behaviour(
        "message-order",
        "inferred",
        ("Message lists are newest first: page 1 holds the latest messages."),
    ),
    Behaviour(
        "deleted-message",
        "documented",
        (
            "A deleted message stays in the history as a transient message whose parameters "
            "hold the original content and context.timestamp (the deletion time)."
        ),
    ),
    Behaviour(
        "transient-timestamp",
        "choice",
        (
            "A transient message's context.timestamp is in Unix seconds (its real form is "
            "unknown; a real client reads milliseconds)."
        ),
        'Emulator(transient_timestamp="milliseconds") or "iso"',
    ),
    Behaviour(
        "term-match",
        "inferred",
        (
            "term on /tags, /funnels, /variables and /definitions is a partial, "
            "case-insensitive match on name; /contacts/search matches name, e-mail or phone "
            "and needs a non-empty term."
        ),
    ),
    Behaviour(
        "contacts-list-term",
        "choice",
        ("GET /contacts ignores term (the docs list none; one client sends it)."),
    ),
    Behaviour(
        "contact-update-fields",
        "inferred",
        (
            "PUT /contacts/{id} takes values (variable name -> value) and the system fields "
            "firstName, lastName, email and phone (at most 255 characters; an e-mail form; "
            "'+' and 7 to 15 digits); fullName follows them."
        ),
    ),
    Behaviour(
        "contact-update-chat",
        "choice",
        (
            "A contact's new firstName or lastName shows in the contact, not in its chat's "
            "name or contact.fullName."
        ),
    ),
    Behaviour(
        "contact-update-unknown-variable",
        "choice",
        (
            "A value for a variable name the project does not define is stored and shown like"
            " any other."
        ),
    ),
    Behaviour(
        "contact-update-empty-value",
        "seen",
        (
            'An empty value ("" or null) clears the variable: it then reads as null in '
            "variables and /info."
        ),
    ),
    Behaviour(
        "fire",
        "seen",
        (
            "POST /contacts/{id}/fire takes name in the JSON body or (legacy) the query; any "
            "name is accepted and recorded, in order, for emulator.fired(contact_id)."
        ),
    ),
    Behaviour(
        "merge",
        "choice",
        (
            "POST /contacts/{id}/unite/{target} copies the target's tags, funnels, groups and"
            " the variables the contact lacks onto the contact; both contacts stay (direction"
            " and survivor are unknown); emulator.merges() lists the merges."
        ),
    ),
    Behaviour(
        "tag-attach-twice",
        "choice",
        (
            "Attaching a tag the contact has, or detaching one it lacks, is acknowledged and "
            "changes nothing (one client assumes 422)."
        ),
    ),
    Behaviour(
        "tag-color",
        "choice",
        (
            "A tag colour is 6 hex digits without '#' (422 otherwise), stored upper-case; a "
            "tag created without one has color null."
        ),
    ),
    Behaviour(
        "tag-update-delete",
        "inferred",
        (
            'PUT and DELETE /tags/{tagId} answer {"state": true}; a renamed or deleted tag '
            "changes on, or leaves, every contact."
        ),
    ),
    Behaviour(
        "funnel-service-key",
        "choice",
        (
            "Funnel.serviceKey is a string (its JSON type is unknown); an unknown serviceKey "
            "in a path is a 404."
        ),
    ),
    Behaviour(
        "groups",
        "choice",
        (
            "No API lists groups, so POST /contacts/{id}/groups/{serviceId} accepts any "
            "serviceId; a group reads {id, serviceId, name}; add and remove answer "
            '{"state": true}.'
        ),
    ),
    Behaviour(
        "cart",
        "seen",
        (
            "GET /contacts/{id}/checkout lists ProductEssence lines with cash {amount, "
            "currency}, the older top-level price/amount/currency too, product {id, name} and"
            " pivot {quantity}; an empty cart is an empty collection."
        ),
        "emulator.set_cart(contact_id, {essence_id: quantity})",
    ),
    Behaviour(
        "invoice-essence",
        "choice",
        (
            "An invoice's essence is one ProductEssence object (the docs show both an object "
            "and a list)."
        ),
    ),
    Behaviour(
        "invoice-pay",
        "documented",
        (
            "PUT /contacts/{id}/invoices pays the order, or creates and pays it when missing;"
            " date is Y-m-d H:i:s and currency lower-case (422 otherwise); a payment empties "
            "the cart."
        ),
    ),
    Behaviour(
        "invoice-log",
        "choice",
        ("An invoice log reads {state, amount, currency, createdAt}."),
    ),
    Behaviour(
        "variable-choices",
        "choice",
        ("An enum variable shows its choices as sent: values, comma-separated."),
    ),
    Behaviour(
        "variable-update",
        "choice",
        ("PUT /variables/{id} takes name and description, each optional."),
    ),
    Behaviour(
        "variable-delete",
        "inferred",
        ("Deleting a variable removes its value from every contact's variables and /info."),
    ),
    Behaviour(
        "definition-value",
        "choice",
        (
            "POST /definitions without value (one client sends {name, type}) makes a "
            "definition whose value is null."
        ),
    ),
    Behaviour(
        "channel-fields",
        "choice",
        (
            "A channel reads {id, name, type, app, link, active, occupied, referrer, "
            "createdAt, updatedAt}; app and referrer are null (they are known from the "
            "catalogue only)."
        ),
    ),
    Behaviour(
        "gate-create",
        "documented",
        (
            "POST /channels/{id}/gates is idempotent per channel and identifier, creates the "
            "contact, and takes WhatsApp channels only."
        ),
    ),
    Behaviour(
        "gate-create-refused",
        "choice",
        (
            "Gate creation on a non-WhatsApp channel answers 422 with a channelId description"
            " (the real error is unknown)."
        ),
    ),
    Behaviour(
        "gate-body",
        "choice",
        (
            "A created gate reads {id, subscribed, channel {type, name}, unreadMessages, "
            "identifier, contact}, contact being the contact as GET /contacts/{id} renders it."
        ),
    ),
    Behaviour(
        "gate-created-contact",
        "choice",
        (
            "A contact created by a gate has that gate and no chat: its chat, messages and "
            "send answer 404."
        ),
    ),
    Behaviour(
        "create-status",
        "choice",
        ("Creates answer 200 with the object (whether the API says 201 is unknown)."),
    ),
    Behaviour(
        "product-update",
        "choice",
        (
            "PUT /products/{id} takes the create fields, each optional, checked when given "
            "(the docs say the same rules as create)."
        ),
    ),
    Behaviour(
        "product-essence-input",
        "choice",
        (
            "A product essence is given as {name, cash: {amount, currency}} or {name, price, "
            "currency}; the currency is stored upper-case."
        ),
    ),
    Behaviour(
        "cashier",
        "choice",
        ("A cashier (payment system) reads {id, name, type, createdAt}."),
    ),
    Behaviour(
        "me",
        "seen",
        ("GET /me answers the project {id, name, photo}."),
    ),
    Behaviour(
        "operator-involve",
        "inferred",
        (
            'PUT /operators/{id}/involve takes {"state": bool}, answers {"state": true} and '
            "the switch is kept (emulator.operator_involved())."
        ),
    ),
    Behaviour(
        "cursor",
        "inferred",
        (
            "The cursor is exactly {page, pages}; an empty list reports pages 1, paging past "
            "the end answers 200 with an empty collection, and limitation defaults to 20."
        ),
    ),
    Behaviour(
        "wrong-method",
        "choice",
        (
            "A known path with another method answers 405 with an Allow header; a malformed "
            "JSON body answers 400."
        ),
    ),
    Behaviour(
        "chat-activity",
        "inferred",
        (
            "Chats are listed by updatedAt, newest first; only a message (a send or an "
            "inbound one) changes updatedAt, and an inbound message reopens a closed chat and"
            " adds one to unreadMessages."
        ),
    ),
    Behaviour(
        "chat-body",
        "choice",
        ("Chat bodies carry no state and no operator (emulator.chat_status() shows them)."),
    ),
    Behaviour(
        "send",
        "choice",
        (
            'A send goes out through the chat\'s first subscribed gate with sender.type "bot";'
            " watermark is checked, then ignored."
        ),
    ),
    Behaviour(
        "edit",
        "choice",
        (
            "An edit replaces content of text, input and pendingText and the caption of "
            "picture, telegramCaptionedPicture, animation and video; other types answer 422; "
            "the message must belong to the gate (404 otherwise)."
        ),
    ),
    Behaviour(
        "delete-scope",
        "choice",
        (
            "A delete is all or nothing: one unknown id, or one of another gate, answers 404 "
            "and deletes nothing."
        ),
    ),
    Behaviour(
        "faults",
        "choice",
        (
            "Faults are drawn after authentication and the quota; a faulted request is not "
            "processed unless Faults(after_processing=True)."
        ),
        "Emulator(faults=Faults(...))",
    ),
    # Appended by the export-trust work (branch i15): what the export relies on or shows.
    Behaviour(
        "lock-escalation",
        "documented",
        "The first breach locks the token for 60 s, each further breach for 60 s more, "
        "up to 720 s.",
    ),
    Behaviour(
        "lock-message",
        "seen",
        "A locked request gets 423 with the body message 'Too many requests. Please, try "
        "again in N seconds'.",
    ),
    Behaviour(
        "lock-retry-after",
        "choice",
        "423 answers carry no Retry-After header unless asked (the real API is not known to "
        "send one).",
        "Emulator(retry_after_header=True); serve --retry-after",
    ),
    Behaviour(
        "lock-unit",
        "choice",
        "The lock unit scales with the quota's period: 60 s for 180/60, 2 s for 30/2.",
        "Emulator(rate_limit=(N, seconds))",
    ),
    Behaviour(
        "lock-breaches",
        "choice",
        "The breach count behind the escalation never decays by itself; requests refused "
        "during a lock neither count in the window nor extend the lock.",
    ),
    Behaviour(
        "me-project",
        "choice",
        "GET /me answers id 501 and name 'Emulated Shop' (the reference documents only "
        "name and photo; the id is the emulator's).",
    ),
    Behaviour(
        "clock",
        "choice",
        "The emulator's clock starts at 2026-03-18T12:00:00Z, whatever this machine's clock "
        "says, so timestamps are reproducible.",
        "Emulator(epoch=...); serve --epoch TIME|now",
    ),
    Behaviour(
        "date-header",
        "choice",
        "The emulator sends no Date header of its own (served by uvicorn, Date is this "
        "machine's time, not the emulator's clock).",
    ),
    Behaviour(
        "timestamp-seconds",
        "inferred",
        "Timestamps are RFC 3339 UTC with whole seconds ('2026-03-18T16:40:12.000000Z'); a "
        "new message stamps its chat's updatedAt with the same second.",
    ),
    Behaviour(
        "chat-order",
        "choice",
        "GET /chats lists chats by updatedAt, newest first (the reference's order is"
        " unknown; this is its inference); chat_order='id' lists them by ascending id.",
        "Emulator(chat_order='id')",
    ),
)
