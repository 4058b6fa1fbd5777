"""Rewrite the README's settings table from the code (`python scripts/sync_readme_settings.py`)."""

from pathlib import Path

from tickerpulse.settings_doc import BEGIN, END, settings_table

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text(encoding="utf-8")
head, rest = text.split(BEGIN, 1)
_, tail = rest.split(END, 1)
readme.write_text(head + BEGIN + "\n" + settings_table() + "\n" + END + tail, encoding="utf-8")
print(f"updated {readme}")
