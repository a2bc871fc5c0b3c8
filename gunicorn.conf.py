"""gunicorn's settings, read from the directory it starts in (the README's deploy command runs it
from the project root): its access and error logs redact customers' emails, phones and search terms
as the console's own logs do (console/redaction.py)."""

logger_class = "console.redaction.RedactingGunicornLogger"
