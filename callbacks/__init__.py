"""Callbacks, one module per feature. Importing this package registers them all.

They use Dash's global `callback`, so no module imports the app object.
"""

from callbacks import (  # noqa: F401
    admin,
    api_tokens,
    branches,
    chat,
    export,
    history,
    quota,
    settings,
    shortcuts,
    sidebar,
    theme,
)
