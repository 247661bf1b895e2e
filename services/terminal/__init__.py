"""The terminal chat (`python chat_app.py chat`): the page's services, driven from a shell.

`session` holds the conversation and the commands (no terminal I/O, so it is testable as is);
`identity` says whose records the terminal writes; `repl` is the thin loop around them
(readline, Ctrl+C, pipes).
"""
