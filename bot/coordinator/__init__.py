"""The coordinators' side: cards, keyboards, access checks, what goes to a private chat, the
relay of a person's answers, the audit trail, export and figures.

Helpers used by `bot/handlers/coordinator.py`, `bot/handoff.py` and `bot/delivery.py`.
"""
