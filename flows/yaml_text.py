"""YAML as the flows, labels and code tables are written: safe, and parsed in C when it can.

PyYAML's pure-Python parser took about 0.15 s of the bot's start-up for the shipped files, most
of what the bot adds to aiogram's own start-up; its libyaml binding (in PyYAML's wheels) reads
the same safe subset several times faster, with the same result and the same errors.
"""

from __future__ import annotations

from typing import Any

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The document in `text`; raises yaml.YAMLError if it is not YAML."""
    return yaml.load(text, Loader=_Loader)
