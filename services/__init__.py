"""Business logic with no Dash imports; the only package that touches the OpenAI SDK."""
