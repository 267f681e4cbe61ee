"""Factories for the bot, the dispatcher and the services; tests call them too."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat

from bot.chat import ChatMiddleware, ChatOutbox, QuietCallbackAnswerMiddleware
from bot.config import Settings
from bot.i18n import command_descriptions
from bot.keyboards import Keyboards
from bot.render import Renderer
from bot.sender import Sender
from bot.services import Services
from bot.submit import Submitter
from flows.engine import Engine
from flows.loader import load_shipped_flows
from flows.ports import Clock, Funnel, IntakeRepository, Outbox
from storage.base import ConversationStore

log = logging.getLogger(__name__)

PRIVATE_COMMANDS = (
    "start",
    "help",
    "terug",
    "stop",
    "taal",
    "mens",
    "mijngegevens",
    "verwijder",
    "intrekken",
)
# The English name of each command that has one (the handlers take both): the English menu
# shows these, as the English texts do.
ENGLISH_COMMANDS = {
    "terug": "back",
    "taal": "language",
    "mens": "human",
    "mijngegevens": "mydata",
    "verwijder": "delete",
    "intrekken": "withdraw",
}


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession()
        if settings.TELEGRAM_API_BASE:
            session.api = TelegramAPIServer.from_base(settings.TELEGRAM_API_BASE)
    return Bot(
        token=settings.token, session=session, default=DefaultBotProperties(parse_mode="HTML")
    )


def create_services(
    settings: Settings,
    *,
    intakes: IntakeRepository,
    outbox: Outbox,
    clock: Clock,
    funnel: Funnel,
    renderer: Renderer | None = None,
) -> Services:
    engines = {name: Engine(flow) for name, flow in load_shipped_flows().items()}
    return Services(
        settings=settings,
        engines=engines,
        renderer=renderer or Renderer(),
        keyboards=Keyboards(engines),
        intakes=intakes,
        outbox=outbox,
        clock=clock,
        funnel=funnel,
    )


def create_dispatcher(services: Services, storage: ConversationStore, sender: Sender) -> Dispatcher:
    """The Dispatcher with every router; `sender` delivers what the handlers queue (start its
    `run()` and `ChatOutbox.resume()` beside polling)."""
    # SimpleEventIsolation serialises updates per chat: without it, fast taps race and FSM writes
    # are lost (99 of 100 in docs/sending.md). The sender's write-backs take the same lock.
    isolation = SimpleEventIsolation()
    chat_outbox = ChatOutbox(storage, isolation, sender, services)
    chat_outbox.on_submit = Submitter(services, chat_outbox)
    dp = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        services=services,
        sender=sender,
        chat_outbox=chat_outbox,
    )
    from bot.handlers import coordinator_router, private_routers

    dp.include_router(coordinator_router())
    # One parent for everything a person does in a private chat: the record is loaded once and
    # committed once per update, around whichever handler takes it.
    private = Router(name="private")
    # Registered first, so outermost: the callback query is answered after the commit.
    private.callback_query.outer_middleware(QuietCallbackAnswerMiddleware())
    chat_middleware = ChatMiddleware()
    for observer in (private.message, private.edited_message, private.callback_query):
        observer.outer_middleware(chat_middleware)
    private.include_routers(*private_routers())
    dp.include_router(private)
    return dp


async def set_commands(bot: Bot, settings: Settings) -> None:
    """The command menus, per language (Telegram picks by the user's app language): the
    person's commands in private chats, the review commands in the coordinators' group."""
    descriptions = command_descriptions()
    for lang in ("nl", "en"):
        commands = [
            BotCommand(
                command=ENGLISH_COMMANDS.get(c, c) if lang == "en" else c,
                description=descriptions[c][lang],
            )
            for c in PRIVATE_COMMANDS
        ]
        await bot.set_my_commands(
            commands,
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if lang == "nl" else lang,
        )
    group = settings.COORDINATOR_CHAT_ID
    if group is None:
        return
    review = command_descriptions("coordinator_commands")
    for lang in ("nl", "en"):
        try:
            await bot.set_my_commands(
                [BotCommand(command=c, description=d[lang]) for c, d in review.items()],
                scope=BotCommandScopeChat(chat_id=group),
                language_code=None if lang == "nl" else lang,
            )
        except TelegramAPIError as exc:
            # The bot may not be in the group yet: the commands work without the menu.
            log.warning("no command menu for the coordinators' group: %s", type(exc).__name__)
            return


__all__ = ["create_bot", "create_dispatcher", "create_services", "set_commands"]
