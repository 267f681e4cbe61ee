"""The coordinators' side: cards, keyboards, access checks, export and figures.

Plain helpers used by `bot/handlers/coordinator.py` and `bot/handoff.py`.
"""
