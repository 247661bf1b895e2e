"""Element ids. The ones marked public are contract (../shared/CONTRACT.md): never rename them."""

# Public contract.
CHAT_INPUT = "chat-input"
SEND_BUTTON = "chat-send-button"
STOP_BUTTON = "chat-stop-button"
MESSAGES = "chat-messages"
MULTI_TURN_SWITCH = "multi-turn-switch"
EXPORT_BUTTON = "export-markdown-button"
CLEAR_BUTTON = "clear-history-button"
# Light, dark or following the system (components/theme.py).
THEME_SWITCH = "theme-switch"

# Internal.
HISTORY_STORE = "chat-history-store"
STREAMING_STORE = "chat-streaming-store"
RESULT_STORE = "chat-stream-result"
LANG_STORE = "app-lang-store"
# The browser's time zone (an IANA name), set in the browser; exports are dated in it.
TIME_ZONE_STORE = "app-time-zone-store"
HISTORY_LIST = "chat-history-list"
# Shown by the page (assets/chat.js) while the thread is scrolled up from its newest message.
JUMP_NEWEST = "chat-jump-newest"
LIVE_REPLY = "chat-live-reply"
LIVE_MARKDOWN = "chat-live-markdown"
LIVE_QUESTION = "chat-live-question"
LIVE_QUESTION_TEXT = "chat-live-question-text"
NOTICE = "chat-notice"
CLEAR_CONFIRM = "clear-history-confirm"
DOWNLOAD = "export-markdown-download"
TOAST_HOLDER = "app-toast-holder"
LANGUAGE_SWITCH = "header-language-switch"

# Pattern-matching id types.
RETRY_BUTTON = "chat-retry-button"
EXAMPLE_PROMPT = "chat-example-prompt"

# Model and generation settings (issue 3).
MODEL_SELECT = "header-model-select"
SETTINGS_BUTTON = "header-settings-button"
LOGOUT_BUTTON = "header-logout-button"
CONSOLE_LINK = "header-console-link"  # admins only: /admin
HEADER_MENU = "header-menu-button"
HEADER_ACTIONS = "header-actions"
SETTINGS_DRAWER = "settings-drawer"
CUSTOM_SAMPLING = "settings-custom-switch"
TEMPERATURE = "settings-temperature"
TOP_P = "settings-top-p"
# The sliders' current values, written beside their labels.
TEMPERATURE_VALUE = "settings-temperature-value"
TOP_P_VALUE = "settings-top-p-value"
MAX_TOKENS = "settings-max-tokens"
CHECK_BUTTON = "settings-check-button"
CHECK_RESULT = "settings-check-result"

# Personas, context and cost (issue 4).
PERSONA_SELECT = "persona-select"
PERSONA_CUSTOM_PROMPT = "persona-custom-prompt"
HEADER_USAGE = "header-usage"
ESTIMATE = "composer-estimate"
ESTIMATE_TEXT = "composer-estimate-text"  # the box's text once typing pauses, if still there

# Server-side records (issue 5).
CONVERSATION_STORE = "chat-conversation-store"

# The page's turn in the browser (issue 7): see callbacks/chat.py and assets/chat.js.
PAGE_CONFIG = "chat-page-config"  # what the browser needs to start a turn on its own
THREAD_REDRAW = "chat-thread-redraw"  # set when the thread is replaced: draw it whole
# Set by the page to have the server's record of a conversation drawn (records on): at load,
# and when a reply it followed has ended (assets/chat.js, callbacks/sidebar.py).
OPEN_REQUEST = "chat-open-request"
USAGE_TOTALS = "chat-usage-totals"  # tokens per model so far, for the header's total
CONTEXT_TOKENS = "chat-context-tokens"  # the next request's context size, for the estimate
TURN_NUMBER = "chat-turn-number"  # the next turn's number: its container is chat-turn-<n>
INPUT_PROBLEM = "chat-input-problem"  # why the browser refused to send (empty, too long)
# Each turn's container is TURN_PREFIX + its number (components/thread.py).
TURN_PREFIX = "chat-turn-"
# Where the next request's history starts in the thread, as the server last said (issue 13).
HISTORY_START = "chat-history-start"

# The conversation sidebar.
SIDEBAR = "chat-sidebar"
SIDEBAR_TOGGLE = "sidebar-toggle-button"
SIDEBAR_NEW = "sidebar-new-button"
SIDEBAR_SEARCH = "sidebar-search"
SIDEBAR_LIST = "sidebar-list"
SIDEBAR_REFRESH = "sidebar-refresh-store"
RENAME_MODAL = "sidebar-rename-modal"
RENAME_INPUT = "sidebar-rename-input"
RENAME_TARGET = "sidebar-rename-target"
# Pattern-matching id types; the index is the conversation id.
SIDEBAR_ITEM = "sidebar-item"
SIDEBAR_RENAME = "sidebar-rename"
SIDEBAR_DELETE = "sidebar-delete"
SIDEBAR_IMPORT = "sidebar-import"
# Shown while the server cannot write its records (api/page_turn.py `saved`, assets/chat.js).
RECORDS_NOT_SAVED = "chat-records-not-saved"
LOCAL_RECORDS = "sidebar-local-records"  # conversations kept in the browser (records off)

# Keyboard shortcuts (issue 16): the help dialog (assets/keys.js opens it on `?`).
SHORTCUTS_DIALOG = "shortcuts-dialog"
SHORTCUTS_BUTTON = "settings-shortcuts-button"
# Versions (issue 16): regenerate, edit, `‹ k / n ›`. The page asks (assets/chat.js), the
# server forks or switches (callbacks/branches.py) and may answer with a turn to start.
BRANCH_REQUEST = "chat-branch-request"
ASK_REQUEST = "chat-ask-request"
# Per-user quotas (issue 17): what is left of the signed-in user's daily tokens, in the header.
QUOTA_LEFT = "quota-left"

# ---- issue 17, accounts (helper A): the settings drawer's API tokens
TOKEN_NAME = "api-token-name"
TOKEN_CREATE = "api-token-create"
TOKEN_CREATED = "api-token-created"
TOKEN_LIST = "api-token-list"

# ---- issue 18, attachments: the composer's attach button (its file input is made by
# assets/attach.js beside it), the chips row, why a file was refused, the records-off hint,
# the overlay shown while files are dragged over the page, the live question's attachments.
ATTACH_BUTTON = "chat-attach-button"
ATTACH_INPUT = "chat-attach-input"
ATTACHMENTS = "chat-attachments"
ATTACH_PROBLEM = "chat-attach-problem"
ATTACH_NOTE = "chat-attach-note"
DROP_OVERLAY = "chat-drop-overlay"
LIVE_QUESTION_ATTACHMENTS = "chat-live-question-attachments"
