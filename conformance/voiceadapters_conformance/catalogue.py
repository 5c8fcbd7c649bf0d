"""``python -m voiceadapters_conformance.catalogue``: print the case catalogue (Markdown)."""

from .report import catalogue_markdown

if __name__ == "__main__":
    print(catalogue_markdown(), end="")
