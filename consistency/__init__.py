"""consistency: audit a language-model checkpoint for lying."""

__version__ = "0.1.0"
