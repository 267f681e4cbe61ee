"""What the step benchmark's fixes must not change: the texts shown, what is kept, the routing.

- `Renderer.render_shared` keeps texts that repeat for many people (bot/render.py); it must give
  the very text `render` gives, and never keep a text with something a person typed in it.
- Command handlers sit behind one `IsCommand` gate (bot/handlers/registry.py); a module that
  declares a command after another message handler would change the order, so it is refused.
"""

from __future__ import annotations

import pytest
from aiogram.filters import Command
from aiogram.types import Message

from bot.handlers.registry import Handlers
from bot.render import Renderer
from tests.bot.intake_harness import (
    Harness,
    walk_candidate,
)


def test_render_shared_gives_the_text_render_gives() -> None:
    renderer = Renderer()
    context = {
        "number": 3,
        "progress": "▰▰▱▱▱▱▱▱▱▱",
        "text": "Hoe oud ben je?",
        "explain": (),
        "kind": "single",
        "has_options": True,
        "option_count": 4,
        "previous": None,
        "editing": False,
        "max_length": None,
        "minimum": None,
        "maximum": None,
        "optional": False,
        "flow": "candidate",
    }
    first = renderer.render_shared("nl", "question", **context)
    assert first == renderer.render("nl", "question", **context)
    assert renderer.render_shared("nl", "question", **context) is first  # kept, not rendered
    other = renderer.render_shared("nl", "question", **{**context, "number": 4})
    assert "Vraag 4</i> · ▰▰▱▱" in other
    assert "Vraag 3</i> · ▰▰▱▱" in first
    assert renderer.render_shared("en", "question", **context).startswith("<i>Question 3</i> · ")


async def test_no_text_a_person_typed_is_kept_for_others(harness: Harness) -> None:
    await walk_candidate(
        harness, {"name": "Zwaantje", "work_other": "Bloemschikken", "postcode": "9999 ZZ"}
    )
    driver = harness.driver()
    await driver.click("✏️ Wijzigen")
    await driver.click("18. Hoe mogen we je noemen?")
    assert "Je vorige antwoord: Zwaantje" in (driver.last_text or "")

    kept = harness.services.renderer._shared.values()
    assert any("Hoe oud ben je?" in text for text in kept)  # question screens are kept ...
    for typed in ("Zwaantje", "Bloemschikken", "9999"):  # ... but nothing a person typed
        assert not [text for text in kept if typed in text]


def test_a_command_declared_after_a_message_handler_is_refused() -> None:
    handlers = Handlers("example")

    @handlers.message()
    async def anything(message: Message) -> None: ...

    @handlers.message(Command("help"))
    async def help_command(message: Message) -> None: ...

    with pytest.raises(ValueError, match="help_command is declared after a message handler"):
        handlers.build()


def test_commands_first_build_into_a_gated_child_router() -> None:
    handlers = Handlers("example")

    @handlers.message(Command("help"))
    async def help_command(message: Message) -> None: ...

    @handlers.message()
    async def anything(message: Message) -> None: ...

    router = handlers.build()
    commands, texts = router.sub_routers
    assert [h.callback for h in commands.message.handlers] == [help_command]
    assert [h.callback for h in texts.message.handlers] == [anything]
    assert len(commands.message._handler.filters or []) == 1  # the IsCommand gate
