"""Test seams for the bot: recording session, update builders, fake Bot API server."""
